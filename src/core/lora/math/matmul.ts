/**
 * Dense float32 matrix products for the CPU oracle. Each output row is accumulated in a float64
 * row buffer in i-k-j order (the inner loop walks the accumulator and the right-hand row
 * contiguously), then stored as float32: the accumulator costs one row of memory, is faster in V8
 * than read-modify-write on a Float32Array, and rounds once instead of k times.
 */

/** C[m,n] = A[m,k] · B[k,n]. */
export function matmul(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Float32Array {
  const c = new Float32Array(m * n);
  const row = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    row.fill(0);
    for (let p = 0; p < k; p++) {
      const aip = a[i * k + p]!;
      if (aip === 0) continue;
      const bp = p * n;
      for (let j = 0; j < n; j++) row[j]! += aip * b[bp + j]!;
    }
    c.set(row, i * n);
  }
  return c;
}

/** C[m,n] = Aᵀ · B for A stored as [k,m] and B as [k,n]. */
export function matmulTN(a: Float32Array, b: Float32Array, k: number, m: number, n: number): Float32Array {
  const c = new Float32Array(m * n);
  const row = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    row.fill(0);
    for (let p = 0; p < k; p++) {
      const api = a[p * m + i]!;
      if (api === 0) continue;
      const bp = p * n;
      for (let j = 0; j < n; j++) row[j]! += api * b[bp + j]!;
    }
    c.set(row, i * n);
  }
  return c;
}

/** Bᵀ for B stored as [r,c]: returns [c,r], of B's element type. */
export function transpose(b: Float32Array, r: number, c: number): Float32Array;
export function transpose(b: Float64Array, r: number, c: number): Float64Array;
export function transpose(b: Float32Array | Float64Array, r: number, c: number): Float32Array | Float64Array {
  const out = b instanceof Float64Array ? new Float64Array(r * c) : new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = b[i * c + j]!;
  return out;
}

/** Elementwise product into a new array (LoHa's Hadamard product). */
export function hadamard(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! * b[i]!;
  return out;
}
