/**
 * The attention projections of a UNet inventory: `to_q`, `to_k`, `to_v` and `to_out.0` of `attn1`
 * and `attn2` in every transformer block, with their merge shapes. For SD1.5 these are the 128
 * modules of the peer benchmark (Diffusers `fuse_lora` on all attention projections).
 */
import type { ComponentInventory } from '../../graph/config/inventory.ts';

const PROJECTION = /\.attn[12]\.(to_q|to_k|to_v|to_out\.0)$/;

export interface Projection {
  /** Module path, e.g. `down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k`. */
  readonly path: string;
  /** Output features (rows of W). */
  readonly out: number;
  /** Input features (columns of W). */
  readonly in: number;
}

export function attentionProjections(inv: ComponentInventory): Projection[] {
  return inv.modules
    .filter((m) => m.kind === 'linear' && PROJECTION.test(m.path))
    .map((m) => ({ path: m.path, out: m.weight[0] ?? 0, in: m.weight[1] ?? 0 }));
}
