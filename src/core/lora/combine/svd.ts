/**
 * The `*svd` types (PEFT `_svd_generalized_task_arithmetic_weighted_adapter`): merge the full
 * deltas ΔW_i = s_i·B_i·A_i (conv k x k flattened to [out, in*k*k]) with the matching rule and
 * weights w_i (s_i enters once: the fixtures measured with PEFT 0.21 are the authority), then
 * the truncated SVD: B = U[:, :r]·diag(S[:r]), A = Vᵀ[:r]. With a clamp q, both factors are
 * clamped to ±h, h = quantile(concat(B, A), q) (torch.quantile's linear interpolation).
 *
 * Plain `svd` is a sum of low-rank products, so its SVD comes from the factors (jacobi-svd.ts
 * `lowRankSvd`), never forming the [out, cols] matrix; the pruning types change every entry of
 * the delta and need the dense SVD. Where r exceeds the rank the SVD yields, the extra rows and
 * columns are zero (PEFT's would hold arbitrary directions with zero singular values).
 */
import type { F32Tensor } from '../adapter.ts';
import { lowRankSvd, type Svd, svd } from './jacobi-svd.ts';
import { resultShapes, type Term, termDelta } from './term.ts';
import type { TensorMerge } from './types.ts';

/** torch.quantile(values, q) with linear interpolation, 0 <= q <= 1. */
export function quantile(values: Float64Array, q: number): number {
  const sorted = values.slice().sort();
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo]!;
  return a + (sorted[hi]! - a) * (pos - lo);
}

/** SVD of Σ c_i B_i A_i from the factors (c_i = w_i·s_i), when the summed rank is below both sides. */
function linearSvd(terms: readonly Term[]): Svd | undefined {
  const { out, cols } = terms[0]!;
  const total = terms.reduce((n, t) => n + t.rank, 0);
  if (total >= Math.min(out, cols)) return undefined;
  const p = new Float64Array(out * total); // [out, R]: columns c_i·B_i
  const q = new Float64Array(cols * total); // [cols, R]: rows of Aᵀ
  let offset = 0;
  for (const t of terms) {
    const c = t.weight * t.scale;
    for (let o = 0; o < out; o++)
      for (let j = 0; j < t.rank; j++) p[o * total + offset + j] = c * t.up.data[o * t.rank + j]!;
    for (let j = 0; j < t.rank; j++)
      for (let i = 0; i < cols; i++) q[i * total + offset + j] = t.down.data[j * cols + i]!;
    offset += t.rank;
  }
  return lowRankSvd(p, q, out, cols, total);
}

export interface SvdCombineOptions {
  /** The rule applied to the deltas; `undefined` for plain `svd` (a weighted sum). */
  merge?: TensorMerge;
  rank: number;
  clamp?: number;
}

export function combineSvd(
  terms: readonly Term[],
  opts: SvdCombineOptions,
): { down: F32Tensor; up: F32Tensor } {
  const first = terms[0]!;
  const { out, cols } = first;
  const r = opts.rank;
  let dec = opts.merge ? undefined : linearSvd(terms);
  if (!dec) {
    const merge = opts.merge;
    const deltas = terms.map(termDelta);
    const weights = terms.map((t) => t.weight);
    const delta = merge
      ? merge(deltas, weights)
      : deltas.reduce(
          (acc, d, i) => {
            for (let e = 0; e < acc.length; e++) acc[e]! += weights[i]! * d[e]!;
            return acc;
          },
          new Float64Array(out * cols),
        );
    dec = svd(delta, out, cols);
  }
  const keep = Math.min(r, dec.k);
  const b = new Float64Array(out * r);
  const a = new Float64Array(r * cols);
  for (let o = 0; o < out; o++)
    for (let j = 0; j < keep; j++) b[o * r + j] = dec.u[o * dec.k + j]! * dec.s[j]!;
  a.set(dec.vt.subarray(0, keep * cols));
  if (opts.clamp !== undefined) {
    const all = new Float64Array(b.length + a.length);
    all.set(b);
    all.set(a, b.length);
    const hi = quantile(all, opts.clamp);
    const clampTo = (x: number) => Math.min(Math.max(x, -hi), hi);
    for (let i = 0; i < b.length; i++) b[i] = clampTo(b[i]!);
    for (let i = 0; i < a.length; i++) a[i] = clampTo(a[i]!);
  }
  const shapes = resultShapes(first, r);
  return {
    down: { shape: shapes.down, data: Float32Array.from(a) },
    up: { shape: shapes.up, data: Float32Array.from(b) },
  };
}
