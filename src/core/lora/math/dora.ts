/**
 * DoRA (LORA-FORMATS.md 3.5; fixtures README "deliberately differs", point 3). Given the base
 * weight W, the module's delta ΔW (alpha/rank applied, strength not) and a strength m:
 *
 * - `peft` (`lora_magnitude_vector`): W' = μ/‖W + mΔW‖ · (W + mΔW), the norm per output row
 *   (PEFT puts the strength inside the norm). Returns W' - W.
 * - `lycoris` (`dora_scale`): W_c = W + ΔW, n = ‖W_c‖ + eps along the axis the magnitude's shape
 *   gives; W' = W + m·(W_c·μ/n - W) (the A1111/ComfyUI interpolation). Returns W' - W.
 *
 * At m = 0 the adapter is out of the mix for both styles (PEFT would still rescale W by μ/‖W‖).
 */
import type { DoraSpec, F32Tensor } from '../adapter.ts';
import { numel } from './tensor.ts';

/** torch.finfo(torch.float32).eps, what LyCORIS and ComfyUI add to the norm. */
export const FLOAT32_EPS = 1.1920928955078125e-7;

/** Index layout of a weight along a DoRA axis: `count` groups, element e belongs to group(e). */
function axisLayout(
  shape: readonly number[],
  axis: 'out' | 'in',
): { count: number; group: (e: number) => number } {
  const out = shape[0] ?? 1;
  const inner = numel(shape.slice(1));
  if (axis === 'out') return { count: out, group: (e) => Math.floor(e / inner) };
  const inCh = shape.length >= 2 ? shape[1]! : 1;
  const kernel = numel(shape.slice(2));
  return { count: inCh, group: (e) => Math.floor(e / kernel) % inCh };
}

/** L2 norms of `w` per output row or per input column (over output and kernel dims), in float64. */
export function axisNorms(w: Float32Array, shape: readonly number[], axis: 'out' | 'in'): Float64Array {
  const { count, group } = axisLayout(shape, axis);
  const sums = new Float64Array(count);
  if (axis === 'out') {
    const inner = w.length / Math.max(count, 1);
    for (let o = 0; o < count; o++) {
      let s = 0;
      for (let e = o * inner; e < (o + 1) * inner; e++) s += w[e]! * w[e]!;
      sums[o] = s;
    }
  } else {
    for (let e = 0; e < w.length; e++) sums[group(e)]! += w[e]! * w[e]!;
  }
  for (let i = 0; i < count; i++) sums[i] = Math.sqrt(sums[i]!);
  return sums;
}

/** How many magnitudes a weight of this shape needs along the axis. */
export function doraCount(shape: readonly number[], axis: 'out' | 'in'): number {
  return axisLayout(shape, axis).count;
}

/** W' - W for a DoRA module; `weight` is W, `delta` is ΔW in W's shape (alpha/rank applied). */
export function doraDelta(
  weight: F32Tensor,
  delta: Float32Array,
  spec: DoraSpec,
  strength: number,
): Float32Array {
  const w = weight.data;
  const out = new Float32Array(w.length);
  if (strength === 0) return out;
  const { group } = axisLayout(weight.shape, spec.axis);
  const mu = spec.magnitude.data;
  const combined = new Float32Array(w.length);
  const inside = spec.style === 'peft' ? strength : 1;
  for (let e = 0; e < w.length; e++) combined[e] = w[e]! + inside * delta[e]!;
  const norms = axisNorms(combined, weight.shape, spec.axis);
  const eps = spec.style === 'lycoris' ? FLOAT32_EPS : 0;
  const factors = new Float64Array(norms.length);
  for (let g = 0; g < norms.length; g++) factors[g] = mu[g]! / (norms[g]! + eps);
  if (spec.style === 'peft') {
    for (let e = 0; e < w.length; e++) out[e] = factors[group(e)]! * combined[e]! - w[e]!;
  } else {
    for (let e = 0; e < w.length; e++) out[e] = strength * (combined[e]! * factors[group(e)]! - w[e]!);
  }
  return out;
}
