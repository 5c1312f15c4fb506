/**
 * DoRA (LORA-FORMATS.md 3.5; fixtures README point 3) against formulas written out here, both
 * styles and both axes. Tolerance 1e-5 x max|ΔW| (float32; LyCORIS adds eps = 1.19e-7 to the norm).
 */
import { describe, expect, it } from 'vitest';
import type { DoraSpec, F32Tensor } from '../../src/core/lora/adapter.ts';
import { deltaWeight } from '../../src/core/lora/merge-cpu.ts';
import { isLorafuseError } from '../../src/errors.ts';
import { maxAbs, maxAbsDiff, mod, naiveMatmul, rand, rng } from './lora-math-helpers.ts';

/** Norms of w [out, in, kk] per output row (axis 'out') or per input column (axis 'in'). */
function norms(w: ArrayLike<number>, out: number, inC: number, kk: number, axis: 'out' | 'in'): number[] {
  const n = new Array<number>(axis === 'out' ? out : inC).fill(0);
  for (let o = 0; o < out; o++)
    for (let i = 0; i < inC; i++)
      for (let k = 0; k < kk; k++) n[axis === 'out' ? o : i]! += w[(o * inC + i) * kk + k]! ** 2;
  return n.map(Math.sqrt);
}

function setup(seed: number, out: number, inC: number, kk: number, r: number, alpha: number) {
  const next = rng(seed);
  const shape = kk === 1 ? [out, inC] : [out, inC, Math.sqrt(kk), Math.sqrt(kk)];
  const w = rand(shape, next);
  const up = rand(kk === 1 ? [out, r] : [out, r, 1, 1], next, 0.5);
  const down = rand(kk === 1 ? [r, inC] : [r, inC, ...shape.slice(2)], next, 0.5);
  const dW = naiveMatmul(up.data, down.data, out, r, inC * kk).map((v) => (v * alpha) / r);
  return { w, up, down, dW, next };
}

function spec(magnitude: number[], shape: number[], axis: 'out' | 'in', style: 'peft' | 'lycoris'): DoraSpec {
  const m: F32Tensor = { shape, data: Float32Array.from(magnitude) };
  return { magnitude: m, axis, style };
}

describe('dora', () => {
  for (const style of ['peft', 'lycoris'] as const) {
    for (const axis of ['out', 'in'] as const) {
      it(`${style}/${axis}: magnitude = norms of W + ΔW makes it the plain LoRA at strength 1`, () => {
        const [out, inC, kk, r] = [6, 5, 1, 2];
        const { w, up, down, dW } = setup(40, out, inC, kk, r, 1);
        const wc = Array.from(w.data, (v, i) => v + dW[i]!);
        const mag = norms(wc, out, inC, kk, axis);
        const dora = mod('lora', { up, down }, r, 1, {
          dora: spec(mag, axis === 'out' ? [out] : [1, inC], axis, style),
        });
        const d = deltaWeight(dora, { weight: w }).weight.data;
        const plain = deltaWeight(mod('lora', { up, down }, r, 1)).weight.data;
        expect(maxAbsDiff(d, plain)).toBeLessThanOrEqual(1e-5 * maxAbs(plain));
      });
    }
  }

  it('conv, input axis ([1,in,1,1]): plain LoCon when the magnitude is the column norms', () => {
    const [out, inC, kk, r] = [4, 3, 9, 2];
    const { w, up, down, dW } = setup(41, out, inC, kk, r, 2);
    const mag = norms(
      Array.from(w.data, (v, i) => v + dW[i]!),
      out,
      inC,
      kk,
      'in',
    );
    const dora = mod('lora', { up, down }, r, 2, { dora: spec(mag, [1, inC, 1, 1], 'in', 'lycoris') });
    const d = deltaWeight(dora, { weight: w }).weight.data;
    expect(maxAbsDiff(d, dW)).toBeLessThanOrEqual(1e-5 * maxAbs(dW));
  });

  it('peft at strength 0.5: μ/‖W + 0.5ΔW‖ · (W + 0.5ΔW) - W, per output row', () => {
    const [out, inC, kk, r] = [5, 4, 9, 2];
    const { w, up, down, dW, next } = setup(42, out, inC, kk, r, 4);
    const mag = Array.from({ length: out }, () => 0.5 + next());
    const dora = mod('lora', { up, down }, r, 4, { dora: spec(mag, [1, out, 1, 1], 'out', 'peft') });
    const wc = Array.from(w.data, (v, i) => v + 0.5 * dW[i]!);
    const n = norms(wc, out, inC, kk, 'out');
    const ref = wc.map(
      (v, e) => (mag[Math.floor(e / (inC * kk))]! / n[Math.floor(e / (inC * kk))]!) * v - w.data[e]!,
    );
    const d = deltaWeight(dora, { weight: w }, 0.5).weight;
    expect(d.shape).toEqual(w.shape);
    expect(maxAbsDiff(d.data, ref)).toBeLessThanOrEqual(1e-5 * maxAbs(ref));
  });

  it('lycoris at strength 0.5: W + 0.5 (W_c μ/n - W) with W_c = W + ΔW, input axis', () => {
    const [out, inC, kk, r] = [5, 4, 1, 3];
    const { w, up, down, dW, next } = setup(43, out, inC, kk, r, 1);
    const mag = Array.from({ length: inC }, () => 0.5 + next());
    const dora = mod('lora', { up, down }, r, 1, { dora: spec(mag, [1, inC], 'in', 'lycoris') });
    const wc = Array.from(w.data, (v, i) => v + dW[i]!);
    const n = norms(wc, out, inC, kk, 'in');
    const ref = wc.map((v, e) => 0.5 * ((v * mag[e % inC]!) / n[e % inC]! - w.data[e]!));
    const d = deltaWeight(dora, { weight: w }, 0.5).weight.data;
    expect(maxAbsDiff(d, ref)).toBeLessThanOrEqual(1e-5 * maxAbs(ref));
  });

  it('weight 0 is out of the mix for both styles', () => {
    const { w, up, down } = setup(44, 3, 3, 1, 1, 1);
    for (const style of ['peft', 'lycoris'] as const) {
      const dora = mod('lora', { up, down }, 1, 1, { dora: spec([2, 2, 2], [3], 'out', style) });
      expect(maxAbs(deltaWeight(dora, { weight: w }, 0).weight.data)).toBe(0);
    }
  });

  it('works on LyCORIS algorithms other than LoRA (LoHa + dora_scale)', () => {
    const next = rng(45);
    const [out, inF, r] = [4, 3, 2];
    const f = {
      w1a: rand([out, r], next),
      w1b: rand([r, inF], next),
      w2a: rand([out, r], next),
      w2b: rand([r, inF], next),
    };
    const w = rand([out, inF], next);
    const plain = deltaWeight(mod('loha', f, r, 1)).weight.data;
    const mag = norms(
      Array.from(w.data, (v, i) => v + plain[i]!),
      out,
      inF,
      1,
      'out',
    );
    const dora = mod('loha', f, r, 1, { dora: spec(mag, [out, 1], 'out', 'lycoris') });
    expect(maxAbsDiff(deltaWeight(dora, { weight: w }).weight.data, plain)).toBeLessThanOrEqual(
      1e-5 * maxAbs(plain),
    );
  });

  it('refuses to compute without a base weight, and a magnitude of the wrong size', () => {
    const { w, up, down } = setup(46, 3, 2, 1, 1, 1);
    const dora = mod('lora', { up, down }, 1, 1, { dora: spec([1, 1, 1], [3], 'out', 'peft') });
    try {
      deltaWeight(dora);
      expect.unreachable();
    } catch (e) {
      expect(isLorafuseError(e) && e.code).toBe('invalid-argument');
      expect((e as Error).message).toMatch(/base/);
    }
    const wrong = mod('lora', { up, down }, 1, 1, { dora: spec([1, 1], [2], 'out', 'peft') });
    expect(() => deltaWeight(wrong, { weight: w })).toThrow(/magnitude/);
  });
});
