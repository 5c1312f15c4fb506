/**
 * The Jacobi SVD on its own: A = U·diag(S)·Vᵀ, orthonormal U and V, descending S, against
 * matrices built with known singular values (Q1·diag(σ)·Q2ᵀ, Q from Householder reflections made
 * here), rank-deficient and zero matrices, truncation (Eckart-Young: the rank-r error is
 * sqrt(Σ_{i>=r} σ_i²)), and the factored `lowRankSvd` against the dense one.
 * Tolerances: float64 throughout; reconstruction and orthogonality <= 1e-12 (relative to max |A|),
 * singular values <= 1e-12 x σ_max (backward-stable SVD: absolute error ~ n·eps·σ_max).
 */
import { describe, expect, it } from 'vitest';
import { lowRankSvd, type Svd, svd } from '../../src/core/lora/combine/jacobi-svd.ts';
import { rng } from './lora-math-helpers.ts';

function randomMatrix(m: number, n: number, seed: number): Float64Array {
  const next = rng(seed);
  return Float64Array.from({ length: m * n }, () => next() * 2 - 1);
}

/** An n x n orthogonal matrix: the product of a few Householder reflections I - 2vvᵀ/(vᵀv). */
function orthogonal(n: number, seed: number): Float64Array {
  const q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) q[i * n + i] = 1;
  const next = rng(seed);
  for (let h = 0; h < 4; h++) {
    const v = Float64Array.from({ length: n }, () => next() * 2 - 1);
    const vv = v.reduce((s, x) => s + x * x, 0);
    // q = q · (I - 2vvᵀ/vv)
    for (let i = 0; i < n; i++) {
      let d = 0;
      for (let j = 0; j < n; j++) d += q[i * n + j]! * v[j]!;
      for (let j = 0; j < n; j++) q[i * n + j]! -= (2 * d * v[j]!) / vv;
    }
  }
  return q;
}

/** U[:, :r]·diag(S[:r])·Vᵀ[:r] as an [m, n] matrix. */
function rebuild(d: Svd, r = d.k): Float64Array {
  const out = new Float64Array(d.m * d.n);
  for (let i = 0; i < d.m; i++)
    for (let j = 0; j < d.n; j++) {
      let s = 0;
      for (let t = 0; t < r; t++) s += d.u[i * d.k + t]! * d.s[t]! * d.vt[t * d.n + j]!;
      out[i * d.n + j] = s;
    }
  return out;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** max |UᵀU - I| and max |VᵀV - I| (V's columns are the rows of vt). */
function orthoError(d: Svd): number {
  let err = 0;
  for (let p = 0; p < d.k; p++)
    for (let q = 0; q < d.k; q++) {
      let uu = 0;
      let vv = 0;
      for (let i = 0; i < d.m; i++) uu += d.u[i * d.k + p]! * d.u[i * d.k + q]!;
      for (let j = 0; j < d.n; j++) vv += d.vt[p * d.n + j]! * d.vt[q * d.n + j]!;
      const id = p === q ? 1 : 0;
      err = Math.max(err, Math.abs(uu - id), Math.abs(vv - id));
    }
  return err;
}

function checkSvd(a: Float64Array, m: number, n: number): Svd {
  const d = svd(a, m, n);
  expect([d.m, d.n, d.k]).toEqual([m, n, Math.min(m, n)]);
  expect(d.u.length).toBe(m * d.k);
  expect(d.vt.length).toBe(d.k * n);
  const scale = Math.max(1e-300, ...Array.from(a, Math.abs));
  expect(maxDiff(rebuild(d), a)).toBeLessThanOrEqual(1e-12 * scale);
  expect(orthoError(d)).toBeLessThanOrEqual(1e-12);
  for (let i = 0; i < d.k; i++) {
    expect(d.s[i]!).toBeGreaterThanOrEqual(0);
    if (i > 0) expect(d.s[i]!).toBeLessThanOrEqual(d.s[i - 1]!);
  }
  return d;
}

describe('svd', () => {
  it('1x1: |a| with the sign in U', () => {
    for (const x of [2.5, -3, 0]) {
      const d = checkSvd(Float64Array.of(x), 1, 1);
      expect(d.s[0]).toBe(Math.abs(x));
    }
  });

  it('7x13 and 13x7 random, and the transpose has the same singular values', () => {
    const a = randomMatrix(7, 13, 1);
    const at = new Float64Array(13 * 7);
    for (let i = 0; i < 7; i++) for (let j = 0; j < 13; j++) at[j * 7 + i] = a[i * 13 + j]!;
    const d1 = checkSvd(a, 7, 13);
    const d2 = checkSvd(at, 13, 7);
    expect(maxDiff(d1.s, d2.s)).toBeLessThanOrEqual(1e-12 * d1.s[0]!);
  });

  it('64x40 with known singular values (spread over 1e7)', () => {
    const m = 64;
    const n = 40;
    const sigma = Float64Array.from({ length: n }, (_, i) => 10 * 0.65 ** i);
    const q1 = orthogonal(m, 2);
    const q2 = orthogonal(n, 3);
    // A = Q1[:, :n] · diag(σ) · Q2ᵀ
    const a = new Float64Array(m * n);
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let t = 0; t < n; t++) s += q1[i * m + t]! * sigma[t]! * q2[j * n + t]!;
        a[i * n + j] = s;
      }
    const d = checkSvd(a, m, n);
    expect(maxDiff(d.s, sigma)).toBeLessThanOrEqual(1e-12 * sigma[0]!);
    // Truncation to rank r: the error is the tail of the spectrum (Eckart-Young).
    for (const r of [1, 4, 17]) {
      const approx = rebuild(d, r);
      let fro = 0;
      for (let i = 0; i < a.length; i++) fro += (approx[i]! - a[i]!) ** 2;
      const tail = Math.sqrt(sigma.slice(r).reduce((s, x) => s + x * x, 0));
      expect(Math.abs(Math.sqrt(fro) - tail)).toBeLessThanOrEqual(1e-12 * sigma[0]!);
    }
  });

  it('rank-deficient 30x20 of rank 5 and a zero matrix: zero tail, U still orthonormal', () => {
    const p = randomMatrix(30, 5, 4);
    const q = randomMatrix(5, 20, 5);
    const a = new Float64Array(30 * 20);
    for (let i = 0; i < 30; i++)
      for (let j = 0; j < 20; j++)
        for (let t = 0; t < 5; t++) a[i * 20 + j]! += p[i * 5 + t]! * q[t * 20 + j]!;
    const d = checkSvd(a, 30, 20);
    expect(d.s[4]!).toBeGreaterThan(1e-3);
    for (let i = 5; i < 20; i++) expect(d.s[i]!).toBeLessThanOrEqual(1e-12 * d.s[0]!);
    const z = checkSvd(new Float64Array(6 * 4), 6, 4);
    expect([...z.s]).toEqual([0, 0, 0, 0]);
  });

  it('lowRankSvd(P, Q) equals the dense SVD of P·Qᵀ', () => {
    const m = 50;
    const n = 40;
    const r = 6;
    const p = randomMatrix(m, r, 6);
    const q = randomMatrix(n, r, 7);
    const a = new Float64Array(m * n);
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) for (let t = 0; t < r; t++) a[i * n + j]! += p[i * r + t]! * q[j * r + t]!;
    const dense = checkSvd(a, m, n);
    const low = lowRankSvd(p, q, m, n, r);
    expect(low.k).toBe(r);
    expect(orthoError(low)).toBeLessThanOrEqual(1e-12);
    expect(maxDiff(low.s, dense.s.slice(0, r))).toBeLessThanOrEqual(1e-12 * dense.s[0]!);
    expect(maxDiff(rebuild(low), a)).toBeLessThanOrEqual(1e-12 * Math.max(...Array.from(a, Math.abs)));
  });
});
