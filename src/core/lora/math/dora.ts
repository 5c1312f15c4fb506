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

/**
 * Layout of a weight along a DoRA axis: `count` groups; the elements fall into runs of
 * `runLength` contiguous values, run q belonging to group q % count (a row for `out`; for `in`,
 * one kernel of one input channel).
 */
function axisLayout(shape: readonly number[], axis: 'out' | 'in'): { count: number; runLength: number } {
  if (axis === 'out') return { count: shape[0] ?? 1, runLength: numel(shape.slice(1)) };
  return { count: shape[1] ?? 1, runLength: numel(shape.slice(2)) };
}

/** Number of runs of `runLength` in `length` values (none when a dimension is zero). */
function runCount(length: number, runLength: number): number {
  return runLength > 0 ? length / runLength : 0;
}

/** L2 norms of `w` per output row or per input column (over output and kernel dims), in float64. */
export function axisNorms(w: Float32Array, shape: readonly number[], axis: 'out' | 'in'): Float64Array {
  const { count, runLength } = axisLayout(shape, axis);
  const sums = new Float64Array(count);
  const runs = runCount(w.length, runLength);
  for (let q = 0; q < runs; q++) {
    let s = sums[q % count]!;
    for (let e = q * runLength; e < (q + 1) * runLength; e++) s += w[e]! * w[e]!;
    sums[q % count] = s;
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
  const { runLength } = axisLayout(weight.shape, spec.axis);
  const mu = spec.magnitude.data;
  const combined = new Float32Array(w.length);
  const inside = spec.style === 'peft' ? strength : 1;
  for (let e = 0; e < w.length; e++) combined[e] = w[e]! + inside * delta[e]!;
  const norms = axisNorms(combined, weight.shape, spec.axis);
  const eps = spec.style === 'lycoris' ? FLOAT32_EPS : 0;
  const factors = new Float64Array(norms.length);
  for (let g = 0; g < norms.length; g++) factors[g] = mu[g]! / (norms[g]! + eps);
  const runs = runCount(w.length, runLength);
  for (let q = 0; q < runs; q++) {
    const f = factors[q % norms.length]!;
    const end = (q + 1) * runLength;
    if (spec.style === 'peft') {
      for (let e = q * runLength; e < end; e++) out[e] = f * combined[e]! - w[e]!;
    } else {
      for (let e = q * runLength; e < end; e++) out[e] = strength * (combined[e]! * f - w[e]!);
    }
  }
  return out;
}
