/**
 * Plain LoRA / LoCon math (LORA-FORMATS.md 3.1) against hand-computed numbers and a naive float64
 * reference. Tolerance: 1e-5 x max|ΔW| (float32 products over a short rank, reference in float64).
 */
import { describe, expect, it } from 'vitest';
import { applyAdapters, deltaWeight, moduleScale } from '../../src/core/lora/merge-cpu.ts';
import { isLorafuseError } from '../../src/errors.ts';
import { maxAbs, maxAbsDiff, mod, naiveMatmul, rand, rng, t } from './lora-math-helpers.ts';

describe('lora delta', () => {
  it('matches a hand-computed 2x3 case with alpha/rank', () => {
    // up [2,1] = [1; 2], down [1,3] = [1 0 -1], alpha 2, rank 1 -> scale 2
    const m = mod('lora', { up: t([2, 1], [1, 2]), down: t([1, 3], [1, 0, -1]) }, 1, 2);
    const d = deltaWeight(m);
    expect(d.weight.shape).toEqual([2, 3]);
    expect(Array.from(d.weight.data)).toEqual([2, 0, -2, 4, 0, -4]);
    expect(Array.from(deltaWeight(m, undefined, 0.5).weight.data)).toEqual([1, 0, -1, 2, 0, -2]);
  });

  it('treats alpha 0 as alpha = rank', () => {
    const m = mod('lora', { up: t([1, 2], [1, 1]), down: t([2, 1], [3, 4]) }, 2, 0);
    expect(moduleScale(m)).toBe(1);
    expect(Array.from(deltaWeight(m).weight.data)).toEqual([7]);
    expect(moduleScale({ ...m, alpha: 1 })).toBe(0.5);
  });

  it('equals the naive product on random linear factors', () => {
    const next = rng(1);
    const [out, inF, r] = [13, 7, 4];
    const up = rand([out, r], next);
    const down = rand([r, inF], next);
    const d = deltaWeight(mod('lora', { up, down }, r, 3), undefined, 0.7);
    const ref = naiveMatmul(up.data, down.data, out, r, inF).map((v) => (v * 3 * 0.7) / r);
    expect(maxAbsDiff(d.weight.data, ref)).toBeLessThanOrEqual(1e-5 * maxAbs(ref));
  });

  it('computes a 3x3 LoCon delta by the conv index formula', () => {
    const next = rng(2);
    const [out, inC, r, k] = [5, 3, 2, 3];
    const up = rand([out, r, 1, 1], next);
    const down = rand([r, inC, k, k], next);
    const d = deltaWeight(mod('lora', { up, down }, r, 1));
    expect(d.weight.shape).toEqual([out, inC, k, k]);
    const ref: number[] = [];
    for (let o = 0; o < out; o++)
      for (let i = 0; i < inC; i++)
        for (let h = 0; h < k; h++)
          for (let w = 0; w < k; w++) {
            let s = 0;
            for (let j = 0; j < r; j++)
              s += up.data[o * r + j]! * down.data[((j * inC + i) * k + h) * k + w]!;
            ref.push(s / r);
          }
    expect(maxAbsDiff(d.weight.data, ref)).toBeLessThanOrEqual(1e-5 * maxAbs(ref));
  });

  it('reshapes between 1x1 conv and linear targets both ways', () => {
    const next = rng(3);
    const up2 = rand([6, 2], next);
    const down2 = rand([2, 4], next);
    const lin = deltaWeight(mod('lora', { up: up2, down: down2 }, 2, 2));
    const asConv = deltaWeight(mod('lora', { up: up2, down: down2 }, 2, 2), undefined, 1, {
      targetShape: [6, 4, 1, 1],
    });
    expect(asConv.weight.shape).toEqual([6, 4, 1, 1]);
    expect(Array.from(asConv.weight.data)).toEqual(Array.from(lin.weight.data));
    const conv = mod(
      'lora',
      { up: { shape: [6, 2, 1, 1], data: up2.data }, down: { shape: [2, 4, 1, 1], data: down2.data } },
      2,
      2,
    );
    const base = { weight: rand([6, 4], next) };
    const asLin = deltaWeight(conv, base);
    expect(asLin.weight.shape).toEqual([6, 4]);
    expect(Array.from(asLin.weight.data)).toEqual(Array.from(lin.weight.data));
  });

  it('refuses a target weight of another size, naming the module', () => {
    const m = mod('lora', { up: t([2, 1], [1, 2]), down: t([1, 3], [1, 0, -1]) }, 1, 1);
    try {
      deltaWeight(m, { weight: { shape: [2, 4], data: new Float32Array(8) } });
      expect.unreachable();
    } catch (e) {
      expect(isLorafuseError(e) && e.code).toBe('lora-shape-mismatch');
      expect((e as Error).message).toContain('unet.down_blocks.0.attentions.0.proj_in');
    }
    const badUp = mod('lora', { up: t([2, 2], [1, 2, 3, 4]), down: t([1, 3], [1, 0, -1]) }, 1, 1);
    expect(() => deltaWeight(badUp)).toThrow(/up \[2,2\] does not fit down/);
  });

  it('scales a lora_B bias with alpha/rank and strength', () => {
    const m = mod('lora', { up: t([2, 1], [1, 1]), down: t([1, 1], [1]), bias: t([2], [1, -3]) }, 1, 2);
    const d = deltaWeight(m, undefined, 0.5);
    expect(Array.from(d.bias!.data)).toEqual([1, -3]);
  });

  it('weight 0 is a zero delta', () => {
    const m = mod('lora', { up: t([1, 1], [5]), down: t([1, 1], [5]) }, 1, 1);
    expect(Array.from(deltaWeight(m, undefined, 0).weight.data)).toEqual([0]);
  });

  it('applyAdapters adds the weighted deltas to W0 and leaves inputs alone', () => {
    const next = rng(4);
    const w0 = rand([4, 3], next);
    const copy = Float32Array.from(w0.data);
    const a = mod('lora', { up: rand([4, 2], next), down: rand([2, 3], next) }, 2, 1);
    const b = mod('lora', { up: rand([4, 1], next), down: rand([1, 3], next) }, 1, 4);
    const out = applyAdapters(w0, [
      { module: a, coefficient: 0.3 },
      { module: b, coefficient: -1.5 },
    ]);
    const da = naiveMatmul(a.factors.up!.data, a.factors.down!.data, 4, 2, 3);
    const db = naiveMatmul(b.factors.up!.data, b.factors.down!.data, 4, 1, 3);
    const ref = Array.from(w0.data, (v, i) => v + 0.3 * 0.5 * da[i]! - 1.5 * 4 * db[i]!);
    expect(maxAbsDiff(out.weight.data, ref)).toBeLessThanOrEqual(1e-5 * maxAbs(ref));
    expect(Array.from(w0.data)).toEqual(Array.from(copy));
  });
});
