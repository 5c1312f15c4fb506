/**
 * `out = W0 + Σ_i c_i · dW_i` in float32, the way the delta cache's wasm kernel computes it
 * (axpy-kernel.ts), so the two give the same bits:
 *
 *     acc = c_1 ⊗ dW_1;  acc = acc ⊕ (c_k ⊗ dW_k) for k = 2, 3, ...;  out = W0 ⊕ acc
 *
 * with ⊗ / ⊕ the float32 multiply / add (each rounded once; in JavaScript that is `Math.fround`
 * of the double result, exact for one operation on float32 inputs) and `c_i` rounded to float32
 * first. The sum of the deltas comes before the add of W0, as in the GEMM kernel and in
 * Diffusers/PEFT (delta first, then W += delta). No terms: `out = W0`.
 */

export interface DeltaTerm {
  /** `[out, in]` (or longer: only the first `out.length` values are read). */
  readonly delta: Float32Array;
  readonly coefficient: number;
}

/** `out` may be `w0` (in place); it must not overlap a delta. */
export function combineDeltas(out: Float32Array, w0: Float32Array, terms: readonly DeltaTerm[]): void {
  const n = out.length;
  const fr = Math.fround;
  const first = terms[0];
  if (!first) {
    if (out !== w0) out.set(w0.subarray(0, n));
    return;
  }
  const c = fr(first.coefficient);
  const d = first.delta;
  if (terms.length === 1) {
    for (let i = 0; i < n; i++) out[i] = w0[i]! + fr(c * d[i]!);
    return;
  }
  const rest = terms.slice(1).map((t) => ({ c: fr(t.coefficient), d: t.delta }));
  for (let i = 0; i < n; i++) {
    let acc = fr(c * d[i]!);
    for (const t of rest) acc = fr(acc + fr(t.c * t.d[i]!));
    out[i] = w0[i]! + acc;
  }
}
