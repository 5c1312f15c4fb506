/**
 * Kronecker product of two matrices: kron(A[p,q], B[r,s]) = [p*r, q*s] with
 * out[i*r + k, j*s + l] = A[i,j] * B[k,l]. A conv factor B = [b, d, kh, kw] flattened to
 * [b, d*kh*kw] gives exactly the flattened 4-D Kronecker product of LyCORIS's LoKr.
 */
export function kron(
  a: Float32Array,
  p: number,
  q: number,
  b: Float32Array,
  r: number,
  s: number,
): Float32Array {
  const outCols = q * s;
  const out = new Float32Array(p * r * outCols);
  for (let i = 0; i < p; i++) {
    for (let j = 0; j < q; j++) {
      const aij = a[i * q + j]!;
      if (aij === 0) continue;
      for (let k = 0; k < r; k++) {
        const o = (i * r + k) * outCols + j * s;
        const bk = k * s;
        for (let l = 0; l < s; l++) out[o + l] = aij * b[bk + l]!;
      }
    }
  }
  return out;
}
