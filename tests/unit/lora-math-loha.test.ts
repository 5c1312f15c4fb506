/**
 * LoHa (LORA-FORMATS.md 3.2) and LoCon Tucker (3.1) against naive einsum loops written here.
 * Tolerance 1e-5 x max|ΔW| (float32 vs a float64 reference over a handful of terms).
 */
import { describe, expect, it } from 'vitest';
import { deltaWeight } from '../../src/core/lora/merge-cpu.ts';
import { filled, maxAbs, maxAbsDiff, mod, naiveMatmul, rand, rng, t } from './lora-math-helpers.ts';

/** K[p,q,h,w] = Σ_{i,j} core[i,j,h,w] · wa[i,p] · wb[j,q] (LyCORIS rebuild_tucker), float64. */
function einsumTucker(
  core: Float32Array,
  wa: Float32Array,
  wb: Float32Array,
  r1: number,
  r2: number,
  p: number,
  q: number,
  kk: number,
): number[] {
  const out = new Array<number>(p * q * kk).fill(0);
  for (let a = 0; a < p; a++)
    for (let b = 0; b < q; b++)
      for (let k = 0; k < kk; k++) {
        let s = 0;
        for (let i = 0; i < r1; i++)
          for (let j = 0; j < r2; j++) s += core[(i * r2 + j) * kk + k]! * wa[i * p + a]! * wb[j * q + b]!;
        out[(a * q + b) * kk + k] = s;
      }
  return out;
}

describe('loha delta', () => {
  it('matches a hand-computed case: (w1a·w1b) ⊙ (w2a·w2b) · alpha/r', () => {
    const m = mod(
      'loha',
      { w1a: t([2, 1], [1, 3]), w1b: t([1, 2], [1, 2]), w2a: t([2, 1], [2, 1]), w2b: t([1, 2], [1, 1]) },
      1,
      1,
    );
    // w1a·w1b = [[1,2],[3,6]], w2a·w2b = [[2,2],[1,1]] -> Hadamard [[2,4],[3,6]]; alpha 1, rank 1
    expect(Array.from(deltaWeight(m).weight.data)).toEqual([2, 4, 3, 6]);
    expect(Array.from(deltaWeight({ ...m, alpha: 0.5 }).weight.data)).toEqual([1, 2, 1.5, 3]);
  });

  it('equals the naive Hadamard of two products, reshaped to a conv target', () => {
    const next = rng(10);
    const [out, inC, k, r] = [6, 4, 3, 3];
    const f = {
      w1a: rand([out, r], next),
      w1b: rand([r, inC * k * k], next),
      w2a: rand([out, r], next),
      w2b: rand([r, inC * k * k], next),
    };
    const d = deltaWeight(mod('loha', f, r, 2), undefined, 1, { targetShape: [out, inC, k, k] });
    expect(d.weight.shape).toEqual([out, inC, k, k]);
    const p1 = naiveMatmul(f.w1a.data, f.w1b.data, out, r, inC * k * k);
    const p2 = naiveMatmul(f.w2a.data, f.w2b.data, out, r, inC * k * k);
    const ref = p1.map((v, i) => (v * p2[i]! * 2) / r);
    expect(maxAbsDiff(d.weight.data, ref)).toBeLessThanOrEqual(1e-5 * maxAbs(ref));
  });

  it('Tucker form equals the einsum reconstruction', () => {
    const next = rng(11);
    const [out, inC, k, r] = [5, 3, 3, 2];
    const f = {
      t1: rand([r, r, k, k], next),
      t2: rand([r, r, k, k], next),
      w1a: rand([r, out], next),
      w1b: rand([r, inC], next),
      w2a: rand([r, out], next),
      w2b: rand([r, inC], next),
    };
    const d = deltaWeight(mod('loha', f, r, 1));
    expect(d.weight.shape).toEqual([out, inC, k, k]);
    const k1 = einsumTucker(f.t1.data, f.w1a.data, f.w1b.data, r, r, out, inC, k * k);
    const k2 = einsumTucker(f.t2.data, f.w2a.data, f.w2b.data, r, r, out, inC, k * k);
    const ref = k1.map((v, i) => (v * k2[i]!) / r);
    expect(maxAbsDiff(d.weight.data, ref)).toBeLessThanOrEqual(1e-5 * maxAbs(ref));
  });

  it('with w2 = ones-like factors equals a LoRA with the w1 factors', () => {
    const next = rng(12);
    const [out, inF, r] = [7, 5, 3];
    const w1a = rand([out, r], next);
    const w1b = rand([r, inF], next);
    const loha = mod('loha', { w1a, w1b, w2a: filled([out, 1], 1), w2b: filled([1, inF], 1) }, r, 1.5);
    const lora = mod('lora', { up: w1a, down: w1b }, r, 1.5);
    const a = deltaWeight(loha, undefined, 0.8).weight.data;
    const b = deltaWeight(lora, undefined, 0.8).weight.data;
    expect(maxAbsDiff(a, b)).toBeLessThanOrEqual(1e-6 * maxAbs(b));
  });
});

describe('locon tucker delta', () => {
  it('equals Σ_{a,b} up[o,a]·mid[a,b,h,w]·down[b,i] · alpha/r', () => {
    const next = rng(20);
    const [out, inC, k, r] = [6, 4, 3, 2];
    const up = rand([out, r, 1, 1], next);
    const mid = rand([r, r, k, k], next);
    const down = rand([r, inC, 1, 1], next);
    const d = deltaWeight(mod('locon-tucker', { up, mid, down }, r, 1));
    expect(d.weight.shape).toEqual([out, inC, k, k]);
    const ref: number[] = [];
    for (let o = 0; o < out; o++)
      for (let i = 0; i < inC; i++)
        for (let hw = 0; hw < k * k; hw++) {
          let s = 0;
          for (let a = 0; a < r; a++)
            for (let b = 0; b < r; b++)
              s += up.data[o * r + a]! * mid.data[(a * r + b) * k * k + hw]! * down.data[b * inC + i]!;
          ref.push(s / r);
        }
    expect(maxAbsDiff(d.weight.data, ref)).toBeLessThanOrEqual(1e-5 * maxAbs(ref));
  });

  it('with an identity 1x1 mid equals plain LoRA', () => {
    const next = rng(21);
    const [out, inC, r] = [5, 4, 3];
    const up = rand([out, r, 1, 1], next);
    const down = rand([r, inC, 1, 1], next);
    const eye = new Float32Array(r * r);
    for (let i = 0; i < r; i++) eye[i * r + i] = 1;
    const tucker = deltaWeight(
      mod('locon-tucker', { up, mid: { shape: [r, r, 1, 1], data: eye }, down }, r, 2),
    );
    const plain = deltaWeight(mod('lora', { up, down }, r, 2));
    expect(tucker.weight.shape).toEqual(plain.weight.shape);
    expect(maxAbsDiff(tucker.weight.data, plain.weight.data)).toBeLessThanOrEqual(
      1e-6 * maxAbs(plain.weight.data),
    );
  });

  it('with an identity down and the k x k down as mid equals plain LoCon', () => {
    const next = rng(22);
    const [out, inC, k, r] = [5, 3, 3, 2];
    const up = rand([out, r, 1, 1], next);
    const down = rand([r, inC, k, k], next);
    const eye = new Float32Array(inC * inC);
    for (let i = 0; i < inC; i++) eye[i * inC + i] = 1;
    // Tucker rank is down.shape[0] = inC; alpha chosen so both scales are 1.
    const tucker = mod(
      'locon-tucker',
      { up, mid: down, down: { shape: [inC, inC, 1, 1], data: eye } },
      inC,
      inC,
    );
    const plain = mod('lora', { up, down }, r, r);
    const a = deltaWeight(tucker).weight;
    const b = deltaWeight(plain).weight;
    expect(a.shape).toEqual(b.shape);
    expect(maxAbsDiff(a.data, b.data)).toBeLessThanOrEqual(1e-6 * maxAbs(b.data));
  });
});
