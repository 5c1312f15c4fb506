/**
 * Old diffusers attention-processor format (v0.12 - ~v0.18, LORA-FORMATS.md 1.1 row 3):
 * `<attention>.processor.to_{q,k,v,out}_lora.{down,up}.weight` in the UNet (no prefix before
 * v0.15, `unet.` after) and `<self_attn>.to_{q,k,v,out}_lora.{down,up}.weight` in text encoders.
 * The projection name depends on the component's architecture: an exact table, no guessing.
 */
import type { ComponentArch } from '../target.ts';

/** Captures: 1 = attention module path, 2 = projection, 3 = down|up. */
export const ATTN_PROC_KEY = /^(.+?)(?:\.processor)?\.to_(q|k|v|out)_lora\.(down|up)\.weight$/;

export const ATTN_PROC_PROJECTIONS: Readonly<Record<ComponentArch, Readonly<Record<string, string>>>> = {
  unet: { q: 'to_q', k: 'to_k', v: 'to_v', out: 'to_out.0' },
  clip: { q: 'q_proj', k: 'k_proj', v: 'v_proj', out: 'out_proj' },
};
