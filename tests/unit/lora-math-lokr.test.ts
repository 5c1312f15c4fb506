/**
 * LoKr (LORA-FORMATS.md 3.3) against the Kronecker index formula written here, and the full-factor
 * equivalence with a full diff. Tolerance 1e-5 x max|ΔW| (float32 vs float64 reference).
 */
import { describe, expect, it } from 'vitest';
import { deltaWeight, moduleScale } from '../../src/core/lora/merge-cpu.ts';
import { maxAbs, maxAbsDiff, mod, naiveMatmul, rand, rng, t } from './lora-math-helpers.ts';

/** out[(p*b+q), (s*d+u), k] = W1[p,s] · W2[q,u,k] for W1 [a,c], W2 [b,d,kk]. */
function naiveKron(
  w1: ArrayLike<number>,
  a: number,
  c: number,
  w2: ArrayLike<number>,
  b: number,
  d: number,
  kk: number,
): number[] {
  const out = new Array<number>(a * b * c * d * kk).fill(0);
  for (let p = 0; p < a; p++)
    for (let q = 0; q < b; q++)
      for (let s = 0; s < c; s++)
        for (let u = 0; u < d; u++)
          for (let k = 0; k < kk; k++)
            out[((p * b + q) * (c * d) + s * d + u) * kk + k] = w1[p * c + s]! * w2[(q * d + u) * kk + k]!;
  return out;
}

describe('lokr delta', () => {
  it('matches a hand-computed Kronecker product', () => {
    // kron([[1,2]], [[0,1],[1,0]]) = [[0,1,0,2],[1,0,2,0]]; both factors whole -> scale 1 despite alpha
    const m = mod('lokr', { w1: t([1, 2], [1, 2]), w2: t([2, 2], [0, 1, 1, 0]) }, 2, 7);
    expect(moduleScale(m)).toBe(1);
    const d = deltaWeight(m);
    expect(d.weight.shape).toEqual([2, 4]);
    expect(Array.from(d.weight.data)).toEqual([0, 1, 0, 2, 1, 0, 2, 0]);
  });

  it('with full factors equals a full diff holding kron(w1, w2)', () => {
    const next = rng(30);
    const w1 = rand([3, 2], next);
    const w2 = rand([4, 5], next);
    const diff = naiveKron(w1.data, 3, 2, w2.data, 4, 5, 1);
    const lokr = deltaWeight(mod('lokr', { w1, w2 }, 4, 16), undefined, 0.6).weight;
    const full = deltaWeight(
      mod('full', { diff: { shape: [12, 10], data: Float32Array.from(diff) } }, 0, 0),
      undefined,
      0.6,
    ).weight;
    expect(lokr.shape).toEqual(full.shape);
    expect(maxAbsDiff(lokr.data, full.data)).toBeLessThanOrEqual(1e-6 * maxAbs(full.data));
  });

  it('decomposed w2 (w2a·w2b) uses alpha/rank', () => {
    const next = rng(31);
    const [a, c, b, d, r] = [2, 3, 4, 2, 2];
    const w1 = rand([a, c], next);
    const w2a = rand([b, r], next);
    const w2b = rand([r, d], next);
    const dW = deltaWeight(mod('lokr', { w1, w2a, w2b }, r, 1)).weight;
    const w2 = naiveMatmul(w2a.data, w2b.data, b, r, d);
    const ref = naiveKron(w1.data, a, c, w2, b, d, 1).map((v) => v / r);
    expect(dW.shape).toEqual([a * b, c * d]);
    expect(maxAbsDiff(dW.data, ref)).toBeLessThanOrEqual(1e-5 * maxAbs(ref));
  });

  it('decomposed w1 with a conv w2 gives the 4-D Kronecker product', () => {
    const next = rng(32);
    const [a, c, b, d, k, r] = [2, 2, 3, 2, 3, 2];
    const w1a = rand([a, r], next);
    const w1b = rand([r, c], next);
    const w2 = rand([b, d, k, k], next);
    const dW = deltaWeight(mod('lokr', { w1a, w1b, w2 }, r, 4)).weight;
    expect(dW.shape).toEqual([a * b, c * d, k, k]);
    const w1 = naiveMatmul(w1a.data, w1b.data, a, r, c);
    const ref = naiveKron(w1, a, c, w2.data, b, d, k * k).map((v) => (v * 4) / r);
    expect(maxAbsDiff(dW.data, ref)).toBeLessThanOrEqual(1e-5 * maxAbs(ref));
  });

  it('conv w2 as w2a·w2b [r, d*k*k] reshapes to the conv target', () => {
    const next = rng(33);
    const [a, c, b, d, k, r] = [2, 2, 2, 3, 3, 2];
    const w1 = rand([a, c], next);
    const w2a = rand([b, r], next);
    const w2b = rand([r, d * k * k], next);
    const dW = deltaWeight(mod('lokr', { w1, w2a, w2b }, r, 2), undefined, 1, {
      targetShape: [a * b, c * d, k, k],
    }).weight;
    expect(dW.shape).toEqual([a * b, c * d, k, k]);
    const w2 = naiveMatmul(w2a.data, w2b.data, b, r, d * k * k);
    const ref = naiveKron(w1.data, a, c, w2, b, d, k * k);
    expect(maxAbsDiff(dW.data, ref)).toBeLessThanOrEqual(1e-5 * maxAbs(ref));
  });

  it('Tucker w2 (t2, w2a [r,b], w2b [r,d]) equals the einsum reconstruction', () => {
    const next = rng(34);
    const [a, c, b, d, k, r] = [2, 2, 3, 2, 3, 2];
    const w1 = rand([a, c], next);
    const t2 = rand([r, r, k, k], next);
    const w2a = rand([r, b], next);
    const w2b = rand([r, d], next);
    const w2 = new Array<number>(b * d * k * k).fill(0);
    for (let p = 0; p < b; p++)
      for (let q = 0; q < d; q++)
        for (let kk = 0; kk < k * k; kk++) {
          let s = 0;
          for (let i = 0; i < r; i++)
            for (let j = 0; j < r; j++)
              s += t2.data[(i * r + j) * k * k + kk]! * w2a.data[i * b + p]! * w2b.data[j * d + q]!;
          w2[(p * d + q) * k * k + kk] = s;
        }
    const dW = deltaWeight(mod('lokr', { w1, w2a, w2b, t2 }, r, 1)).weight;
    const ref = naiveKron(w1.data, a, c, w2, b, d, k * k).map((v) => v / r);
    expect(dW.shape).toEqual([a * b, c * d, k, k]);
    expect(maxAbsDiff(dW.data, ref)).toBeLessThanOrEqual(1e-5 * maxAbs(ref));
  });
});

describe('full and norm deltas', () => {
  it('full: diff and diff_b times strength, scale 1 whatever alpha says', () => {
    const m = mod('full', { diff: t([2, 2], [1, 2, 3, 4]), diffBias: t([2], [5, 6]) }, 1, 3);
    const d = deltaWeight(m, undefined, 0.5);
    expect(Array.from(d.weight.data)).toEqual([0.5, 1, 1.5, 2]);
    expect(Array.from(d.bias!.data)).toEqual([2.5, 3]);
    expect(Array.from(m.factors.diff!.data)).toEqual([1, 2, 3, 4]);
  });

  it('norm: w_norm and b_norm on the norm weight and bias', () => {
    const m = mod('norm', { wNorm: t([3], [1, -1, 2]), bNorm: t([3], [0, 4, -2]) }, 0, 0);
    const base = { weight: t([3], [1, 1, 1]), bias: t([3], [0, 0, 0]) };
    const d = deltaWeight(m, base, 2);
    expect(Array.from(d.weight.data)).toEqual([2, -2, 4]);
    expect(Array.from(d.bias!.data)).toEqual([0, 8, -4]);
  });
});
