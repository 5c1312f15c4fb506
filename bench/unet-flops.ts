/**
 * Multiply-add FLOPs of one UNet forward (batch 1, square latent of side L), estimated from the
 * weight names and shapes alone: convolutions and linear layers at the resolution of their block,
 * plus the two attention products (QK^T and AV) per attention. Norms, activations and elementwise
 * ops are left out (a few percent). Independent of the graph builder, so it can check a bench.
 */
import type { WeightSpec } from '../src/core/graph/dsl/builder.ts';

/** Tokens the text side of cross-attention has (CLIP's 77). */
const TEXT_TOKENS = 77;

/** Side length of the feature map a module at `path` runs at. */
function sideOf(path: string, latent: number, levels: number): number {
  const down = /^down_blocks\.(\d+)\.(resnets|attentions|downsamplers)/.exec(path);
  if (down) return latent >> (Number(down[1]) + (down[2] === 'downsamplers' ? 1 : 0));
  const up = /^up_blocks\.(\d+)\.(resnets|attentions|upsamplers)/.exec(path);
  if (up) return latent >> (levels - 1 - Number(up[1]) - (up[2] === 'upsamplers' ? 1 : 0));
  if (path.startsWith('mid_block')) return latent >> (levels - 1);
  return latent;
}

export function unetFlops(weights: readonly WeightSpec[], latent: number, levels: number): number {
  let flops = 0;
  for (const w of weights) {
    if (!w.name.endsWith('.weight')) continue;
    const side = sideOf(w.name, latent, levels);
    const pixels = side * side;
    if (w.shape.length === 4) {
      const [o, i, kh, kw] = w.shape as [number, number, number, number];
      flops += 2 * o * i * kh * kw * pixels;
    } else if (w.shape.length === 2) {
      const [o, i] = w.shape as [number, number];
      const inAttention = w.name.includes('.attentions.') || w.name.startsWith('mid_block.attentions');
      const textSide = /attn2\.to_[kv]\.weight$/.test(w.name);
      const tokens = !inAttention ? 1 : textSide ? TEXT_TOKENS : pixels;
      flops += 2 * o * i * tokens;
      // Scores and weighted sum: 2 products of [pixels x keys] by the attention width.
      if (w.name.endsWith('attn1.to_q.weight')) flops += 2 * 2 * pixels * pixels * o;
      if (w.name.endsWith('attn2.to_q.weight')) flops += 2 * 2 * pixels * TEXT_TOKENS * o;
    }
  }
  return flops;
}
