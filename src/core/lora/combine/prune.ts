/**
 * The sparsifying steps of TIES and DARE (PEFT `utils/merge_utils.py`), on flat tensors:
 * - `magnitudePrune`: keep the k = int(density * numel) entries of largest |x| (equal magnitudes
 *   at the threshold are kept in index order), zero the rest;
 * - `randomPrune`: keep each entry with probability `density` (a seeded Bernoulli mask) and
 *   divide the kept ones by `density`, so the expectation is the input (DARE). PEFT up to early
 *   2026 discarded that division (peft PR #3152 fixed it); we divide, as the paper and PEFT now do;
 * - `electSigns`: TIES' majority sign per entry over the (unweighted, pruned) stack: `total` =
 *   sign of the sum, `frequency` = sign of the sum of signs, 0 counting as +;
 * - `disjointMean`: per entry the mean of the weighted values whose own sign equals the elected
 *   sign (a mean over the agreeing tensors, not a sum; 0 when none agrees).
 * `density >= 1` prunes nothing; a negative density is refused by the caller.
 */
import type { UniformStream } from './rng.ts';
import type { MajoritySignMethod, Values } from './types.ts';

export function magnitudePrune(t: Values, density: number): Float64Array {
  const out = Float64Array.from(t);
  if (density >= 1) return out;
  const k = Math.trunc(density * t.length);
  if (k <= 0) return out.fill(0);
  const mags = new Float64Array(t.length);
  for (let i = 0; i < t.length; i++) mags[i] = Math.abs(t[i]!);
  const sorted = mags.slice().sort();
  const threshold = sorted[t.length - k]!;
  let above = 0;
  for (let i = 0; i < t.length; i++) if (mags[i]! > threshold) above++;
  let atThreshold = k - above;
  for (let i = 0; i < t.length; i++) {
    const m = mags[i]!;
    if (m > threshold) continue;
    if (m === threshold && atThreshold > 0) {
      atThreshold--;
      continue;
    }
    out[i] = 0;
  }
  return out;
}

export function randomPrune(t: Values, density: number, rng: UniformStream): Float64Array {
  const out = Float64Array.from(t);
  if (density >= 1) return out;
  const inv = density > 0 ? 1 / density : 0;
  for (let i = 0; i < t.length; i++) out[i] = rng.next() < density ? t[i]! * inv : 0;
  return out;
}

/** +1 / -1 per entry. */
export function electSigns(stack: readonly Values[], method: MajoritySignMethod): Int8Array {
  const n = stack[0]?.length ?? 0;
  const acc = new Float64Array(n);
  for (const t of stack) {
    if (method === 'total') for (let i = 0; i < n; i++) acc[i]! += t[i]!;
    else for (let i = 0; i < n; i++) acc[i]! += Math.sign(t[i]!);
  }
  const out = new Int8Array(n);
  for (let i = 0; i < n; i++) out[i] = acc[i]! >= 0 ? 1 : -1;
  return out;
}

/** Σ_i w_i x_i over the tensors whose sign(x_i) equals the elected sign, / max(count, 1). */
export function disjointMean(
  stack: readonly Values[],
  weights: readonly number[],
  signs: Int8Array,
): Float64Array {
  const n = signs.length;
  const sum = new Float64Array(n);
  const count = new Float64Array(n);
  stack.forEach((t, j) => {
    const w = weights[j]!;
    for (let i = 0; i < n; i++) {
      const x = t[i]!;
      if (Math.sign(x) === signs[i]) {
        sum[i]! += w * x;
        count[i]!++;
      }
    }
  });
  for (let i = 0; i < n; i++) sum[i]! /= Math.max(count[i]!, 1);
  return sum;
}

/** Σ_i w_i x_i. */
export function weightedSum(stack: readonly Values[], weights: readonly number[]): Float64Array {
  const n = stack[0]?.length ?? 0;
  const out = new Float64Array(n);
  stack.forEach((t, j) => {
    const w = weights[j]!;
    for (let i = 0; i < n; i++) out[i]! += w * t[i]!;
  });
  return out;
}
