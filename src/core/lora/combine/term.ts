/**
 * One input adapter's contribution to one module of a combination: its LoRA factors viewed as
 * matrices (A = `down` [r, cols] with cols = in*kh*kw, B = `up` [out, r]), its user weight w and
 * its scale s = alpha/rank.
 */
import { LorafuseError } from '../../../errors.ts';
import { type AdapterModule, type F32Tensor, moduleId } from '../adapter.ts';
import { factor, numel } from '../math/tensor.ts';
import { moduleScale } from '../merge-cpu.ts';

export interface Term {
  module: AdapterModule;
  /** Index of the adapter in the `combineAdapters` call, for messages. */
  adapter: number;
  source: string;
  weight: number;
  scale: number;
  down: F32Tensor;
  up: F32Tensor;
  rank: number;
  out: number;
  cols: number;
}

export function makeTerm(m: AdapterModule, adapter: number, source: string, weight: number): Term {
  const down = factor(m, 'down');
  const up = factor(m, 'up');
  const rank = down.shape[0] ?? 1;
  const out = up.shape[0] ?? 1;
  if (numel(up.shape) !== out * rank) {
    throw new LorafuseError(
      'lora-shape-mismatch',
      `${source}: module ${moduleId(m)}: up [${up.shape}] does not fit down [${down.shape}] (expected [out, ${rank}])`,
      { file: source, module: moduleId(m), up: up.shape, down: down.shape },
    );
  }
  return {
    module: m,
    adapter,
    source,
    weight,
    scale: moduleScale(m),
    down,
    up,
    rank,
    out,
    cols: numel(down.shape) / rank,
  };
}

/** All terms of a module must act on the same [out, cols] weight. */
export function checkSameTarget(terms: readonly Term[]): void {
  const first = terms[0]!;
  for (const t of terms) {
    if (t.out !== first.out || t.cols !== first.cols) {
      throw new LorafuseError(
        'lora-shape-mismatch',
        `module ${moduleId(first.module)}: ${first.source} changes a [${first.out}, ${first.cols}] weight but ${t.source} a [${t.out}, ${t.cols}] one; the LoRAs were made for different models`,
        {
          module: moduleId(first.module),
          files: [first.source, t.source],
          shapes: [
            [first.out, first.cols],
            [t.out, t.cols],
          ],
        },
      );
    }
  }
}

/** s · B · A as a float64 [out, cols] matrix. */
export function termDelta(t: Term): Float64Array {
  const { out, rank, cols } = t;
  const a = t.down.data;
  const b = t.up.data;
  const d = new Float64Array(out * cols);
  for (let o = 0; o < out; o++) {
    const row = o * cols;
    for (let j = 0; j < rank; j++) {
      const boj = b[o * rank + j]! * t.scale;
      if (boj === 0) continue;
      const ao = j * cols;
      for (let c = 0; c < cols; c++) d[row + c]! += boj * a[ao + c]!;
    }
  }
  return d;
}

/** `down` / `up` shapes of a result of rank r, following the first term's layout (conv or linear). */
export function resultShapes(first: Term, r: number): { down: number[]; up: number[] } {
  return {
    down: [r, ...first.down.shape.slice(1)],
    up: [first.out, r, ...first.up.shape.slice(2)],
  };
}
