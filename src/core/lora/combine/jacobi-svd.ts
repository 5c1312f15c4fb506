/**
 * Singular value decomposition in float64 for the SVD combination types (LORA-FORMATS.md
 * section 4): `A = U · diag(S) · Vᵀ` for a dense row-major [m, n] matrix, thin (k = min(m, n)
 * triplets), singular values in descending order, U and V with orthonormal columns.
 *
 * Method: Householder QR first (A = Q·R with R [n, n] when m >= n; a wide matrix is decomposed
 * through its transpose), then one-sided Jacobi (Hestenes) on R: plane rotations of R's columns
 * until every pair is orthogonal to machine precision. Jacobi is slower than Golub-Kahan but
 * computes small singular values to high relative accuracy and is simple enough to trust.
 * Columns of U whose singular value is zero (rank-deficient input) are completed to an
 * orthonormal set, so U is orthonormal whatever the rank.
 *
 * `lowRankSvd` decomposes a product P · Qᵀ ([m, R] · [R, n], R small) without forming it: QR of
 * both factors and Jacobi on the R x R core. That is how the plain `svd` combination of LoRAs
 * (a sum of low-rank products) stays fast on 1280-wide layers.
 */
import { transpose } from '../math/matmul.ts';

export interface Svd {
  /** [m, k] row-major. */
  u: Float64Array;
  /** [k], descending, >= 0. */
  s: Float64Array;
  /** [k, n] row-major (Vᵀ). */
  vt: Float64Array;
  m: number;
  n: number;
  k: number;
}

const EPS = 2 ** -52;
const MAX_SWEEPS = 80;

/**
 * Householder QR of a tall [m, n] matrix (m >= n): returns the thin Q [m, n] and R [n, n]
 * (upper triangular), both row-major. `a` is not modified.
 */
export function householderQr(a: Float64Array, m: number, n: number): { q: Float64Array; r: Float64Array } {
  const w = new Float64Array(a);
  const vs: Float64Array[] = [];
  const tmp = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    let norm2 = 0;
    for (let i = k; i < m; i++) norm2 += w[i * n + k]! ** 2;
    const norm = Math.sqrt(norm2);
    const v = new Float64Array(m - k);
    if (norm === 0) {
      vs.push(v);
      continue;
    }
    const x0 = w[k * n + k]!;
    const alpha = x0 >= 0 ? -norm : norm;
    for (let i = k; i < m; i++) v[i - k] = w[i * n + k]!;
    v[0] = x0 - alpha;
    let vn2 = 0;
    for (let i = 0; i < v.length; i++) vn2 += v[i]! ** 2;
    const vn = Math.sqrt(vn2);
    for (let i = 0; i < v.length; i++) v[i]! /= vn;
    // w[k:, k:] -= 2 v (vᵀ w[k:, k:]), walking rows so the inner loops are contiguous.
    tmp.fill(0, k);
    for (let i = k; i < m; i++) {
      const vi = v[i - k]!;
      if (vi === 0) continue;
      const row = i * n;
      for (let j = k; j < n; j++) tmp[j]! += vi * w[row + j]!;
    }
    for (let i = k; i < m; i++) {
      const vi = 2 * v[i - k]!;
      if (vi === 0) continue;
      const row = i * n;
      for (let j = k; j < n; j++) w[row + j]! -= vi * tmp[j]!;
    }
    vs.push(v);
  }
  const r = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) r[i * n + j] = w[i * n + j]!;
  // Q = H_0 · ... · H_{n-1} · [I_n; 0], applied right to left.
  const q = new Float64Array(m * n);
  for (let i = 0; i < n; i++) q[i * n + i] = 1;
  for (let k = n - 1; k >= 0; k--) {
    const v = vs[k]!;
    tmp.fill(0, k);
    for (let i = k; i < m; i++) {
      const vi = v[i - k]!;
      if (vi === 0) continue;
      const row = i * n;
      for (let j = k; j < n; j++) tmp[j]! += vi * q[row + j]!;
    }
    for (let i = k; i < m; i++) {
      const vi = 2 * v[i - k]!;
      if (vi === 0) continue;
      const row = i * n;
      for (let j = k; j < n; j++) q[row + j]! -= vi * tmp[j]!;
    }
  }
  return { q, r };
}

/**
 * One-sided Jacobi on a square [n, n] matrix given as the rows of its transpose (`g[j]` = column
 * j). Rotates in place; `v` (rows = columns of V, starts as identity) accumulates the rotations.
 */
function jacobiSweeps(g: Float64Array, v: Float64Array, n: number, len: number): void {
  // Rounding in the dot product is about sqrt(len) ulp; a tighter threshold would never settle.
  const tol = Math.sqrt(len) * EPS;
  const norm2 = new Float64Array(n);
  for (let sweep = 0; sweep < MAX_SWEEPS; sweep++) {
    // Squared column norms, recomputed each sweep and updated exactly enough within it
    // (‖g_p‖² - t·γ, ‖g_q‖² + t·γ), so a pair costs one dot product instead of three.
    for (let j = 0; j < n; j++) {
      let s2 = 0;
      for (let i = 0; i < len; i++) s2 += g[j * len + i]! ** 2;
      norm2[j] = s2;
    }
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      const po = p * len;
      for (let q = p + 1; q < n; q++) {
        const qo = q * len;
        const alpha = norm2[p]!;
        const beta = norm2[q]!;
        let gamma = 0;
        for (let i = 0; i < len; i++) gamma += g[po + i]! * g[qo + i]!;
        if (gamma === 0 || Math.abs(gamma) <= tol * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        norm2[p] = Math.max(0, alpha - t * gamma);
        norm2[q] = beta + t * gamma;
        for (let i = 0; i < len; i++) {
          const x = g[po + i]!;
          const y = g[qo + i]!;
          g[po + i] = c * x - s * y;
          g[qo + i] = s * x + c * y;
        }
        const pv = p * n;
        const qv = q * n;
        for (let i = 0; i < n; i++) {
          const x = v[pv + i]!;
          const y = v[qv + i]!;
          v[pv + i] = c * x - s * y;
          v[qv + i] = s * x + c * y;
        }
      }
    }
    if (!rotated) return;
  }
}

/** Makes row `j` of `rows` [count, len] a unit vector orthogonal to rows 0..j-1. */
function completeRow(rows: Float64Array, j: number, len: number): void {
  const cand = new Float64Array(len);
  for (let e = 0; e < len; e++) {
    cand.fill(0);
    cand[e] = 1;
    for (let pass = 0; pass < 2; pass++) {
      for (let o = 0; o < j; o++) {
        let d = 0;
        for (let i = 0; i < len; i++) d += cand[i]! * rows[o * len + i]!;
        for (let i = 0; i < len; i++) cand[i]! -= d * rows[o * len + i]!;
      }
    }
    let nn = 0;
    for (let i = 0; i < len; i++) nn += cand[i]! ** 2;
    if (nn > 0.25) {
      const inv = 1 / Math.sqrt(nn);
      for (let i = 0; i < len; i++) rows[j * len + i] = cand[i]! * inv;
      return;
    }
  }
}

/** SVD of a square [n, n] matrix `a`; the caller has reduced it with QR. */
function squareSvd(a: Float64Array, n: number): { ut: Float64Array; s: Float64Array; vt: Float64Array } {
  const g = transpose(a, n, n); // row j = column j of a
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  jacobiSweeps(g, v, n, n);
  const norms = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let s2 = 0;
    for (let i = 0; i < n; i++) s2 += g[j * n + i]! ** 2;
    norms[j] = Math.sqrt(s2);
  }
  const order = [...Array(n).keys()].sort((x, y) => norms[y]! - norms[x]! || x - y);
  const s = new Float64Array(n);
  const ut = new Float64Array(n * n); // rows = columns of U
  const vt = new Float64Array(n * n); // rows = columns of V
  const smax = norms[order[0] ?? 0] ?? 0;
  const tiny = smax * n * EPS;
  // Zero singular values sort last, so their U columns are completed after all the others.
  const zero: number[] = [];
  order.forEach((src, dst) => {
    const sv = norms[src]!;
    s[dst] = sv;
    vt.set(v.subarray(src * n, src * n + n), dst * n);
    if (sv > tiny && sv > 0) {
      for (let i = 0; i < n; i++) ut[dst * n + i] = g[src * n + i]! / sv;
    } else {
      zero.push(dst);
    }
  });
  for (const j of zero) completeRow(ut, j, n);
  return { ut, s, vt };
}

/** C [m, k] = Q [m, n] · Mᵀ for M given as rows [k, n] (row i of M = column i of the product's right factor). */
function timesRowsT(q: Float64Array, mRows: Float64Array, m: number, n: number, k: number): Float64Array {
  const c = new Float64Array(m * k);
  for (let i = 0; i < m; i++) {
    const qo = i * n;
    for (let j = 0; j < k; j++) {
      const mo = j * n;
      let acc = 0;
      for (let p = 0; p < n; p++) acc += q[qo + p]! * mRows[mo + p]!;
      c[i * k + j] = acc;
    }
  }
  return c;
}

/** Thin SVD of a dense row-major [m, n] matrix (not modified). */
export function svd(a: Float64Array, m: number, n: number): Svd {
  if (a.length !== m * n || m < 1 || n < 1) {
    throw new RangeError(`svd: a [${m}, ${n}] matrix needs ${m * n} values, got ${a.length}`);
  }
  if (m < n) {
    const t = svd(transpose(a, m, n), n, m);
    // Aᵀ = U' S V'ᵀ  =>  A = V' S U'ᵀ.
    return { u: transpose(t.vt, t.k, m), s: t.s, vt: transpose(t.u, n, t.k), m, n, k: t.k };
  }
  const { q, r } = householderQr(a, m, n);
  const { ut, s, vt } = squareSvd(r, n);
  // U = Q · U_R, with U_R's columns stored as the rows of `ut`.
  return { u: timesRowsT(q, ut, m, n, n), s, vt, m, n, k: n };
}

/**
 * Thin SVD of P · Qᵀ for P [m, r] and Q [n, r] (row-major), r <= min(m, n), without forming the
 * [m, n] product: P = Qp Rp, Q = Qq Rq, core = Rp Rqᵀ = Uc S Vcᵀ, then U = Qp Uc and V = Qq Vc.
 * Gives r triplets.
 */
export function lowRankSvd(p: Float64Array, qf: Float64Array, m: number, n: number, r: number): Svd {
  if (r > m || r > n) throw new RangeError(`lowRankSvd: rank ${r} exceeds [${m}, ${n}]`);
  const a = householderQr(p, m, r);
  const b = householderQr(qf, n, r);
  // core [r, r] = Rp · Rqᵀ
  const core = timesRowsT(a.r, b.r, r, r, r);
  const c = svd(core, r, r);
  // U [m, r] = Qp · Uc, Vᵀ [r, n] = Vcᵀ · Qqᵀ
  const u = timesRowsT(a.q, transpose(c.u, r, r), m, r, r);
  const vt = timesRowsT(c.vt, b.q, r, r, n);
  return { u, s: c.s, vt, m, n, k: r };
}
