/**
 * DARE: the seeded keep mask is reproducible, keeps a fraction ~ density, rescales by 1/density,
 * and is unbiased: averaged over many seeds the merged factors approach the `linear` ones and
 * (with an SVD of full rank, so no truncation) the merged delta approaches Σ w_i s_i B_i A_i.
 * Statistical bounds are 5 standard deviations (a false failure about once in 10^6 per check,
 * times the number of entries checked: < 1e-3 for the whole file), with the standard deviation
 * computed from the Bernoulli variance, not from our output.
 */
import { describe, expect, it } from 'vitest';
import type { CanonicalAdapter } from '../../src/core/lora/adapter.ts';
import { combineAdapters } from '../../src/core/lora/combine/index.ts';
import { randomPrune } from '../../src/core/lora/combine/prune.ts';
import { createUniformStream } from '../../src/core/lora/combine/rng.ts';
import { loraDeltaRef } from './lora-combine-helpers.ts';
import { mod, rand, rng } from './lora-math-helpers.ts';

function adapter(
  name: string,
  seed: number,
  out: number,
  cols: number,
  r: number,
  alpha: number,
): CanonicalAdapter {
  const next = rng(seed);
  const m = mod('lora', { down: rand([r, cols], next), up: rand([out, r], next) }, r, alpha, {
    module: 'mid_block.attentions.0.transformer_blocks.0.attn1.to_q',
  });
  return { source: name, modules: [m], unmapped: [], metadata: {} };
}

describe('DARE', () => {
  const a = adapter('a.safetensors', 1, 12, 10, 4, 2);
  const b = adapter('b.safetensors', 2, 12, 10, 4, 4);
  const weights = [0.7, -0.4];

  it('same seed -> identical output, different seed -> different output', () => {
    for (const combinationType of ['dare_linear', 'dare_ties', 'dare_linear_svd', 'dare_ties_svd'] as const) {
      const run = (seed: number) => combineAdapters([a, b], weights, { combinationType, density: 0.5, seed });
      const x = run(7).modules[0]!;
      const y = run(7).modules[0]!;
      const z = run(8).modules[0]!;
      expect(y.factors.down!.data, combinationType).toEqual(x.factors.down!.data);
      expect(y.factors.up!.data, combinationType).toEqual(x.factors.up!.data);
      expect(z.factors.down!.data, combinationType).not.toEqual(x.factors.down!.data);
    }
  });

  it('randomPrune keeps ~density of the entries (binomial bound), each divided by density', () => {
    const n = 200_000;
    for (const density of [0.1, 0.5, 0.9]) {
      const ones = new Float32Array(n).fill(1);
      const out = randomPrune(ones, density, createUniformStream(123));
      let kept = 0;
      let wrongValue = 0;
      for (const x of out) {
        if (x !== 0) {
          kept++;
          if (x !== 1 / density) wrongValue++;
        }
      }
      expect(wrongValue).toBe(0);
      const sd = Math.sqrt(n * density * (1 - density));
      expect(Math.abs(kept - n * density)).toBeLessThanOrEqual(5 * sd);
    }
  });

  it('the merged factors keep ~1-(1-d)^2 of the entries (either adapter kept it)', () => {
    const d = 0.3;
    const big = [adapter('a', 3, 300, 200, 4, 4), adapter('b', 4, 300, 200, 4, 4)];
    const m = combineAdapters(big, [1, 1], { combinationType: 'dare_linear', density: d, seed: 5 })
      .modules[0]!;
    const data = m.factors.up!.data;
    const n = data.length;
    const p = 1 - (1 - d) ** 2;
    const kept = data.reduce((k, x) => k + (x !== 0 ? 1 : 0), 0);
    expect(Math.abs(kept - n * p)).toBeLessThanOrEqual(5 * Math.sqrt(n * p * (1 - p)));
  });

  it('is unbiased: the mean over seeds of the factors -> linear, of the full-rank SVD delta -> Σ w s B A', () => {
    const d = 0.5;
    const seeds = 600;
    const lin = combineAdapters([a, b], weights, { combinationType: 'linear' }).modules[0]!;
    const sumDown = new Float64Array(lin.factors.down!.data.length);
    const sumDelta = new Float64Array(12 * 10);
    for (let s = 0; s < seeds; s++) {
      const f = combineAdapters([a, b], weights, { combinationType: 'dare_linear', density: d, seed: s })
        .modules[0]!;
      f.factors.down!.data.forEach((x, i) => {
        sumDown[i]! += x;
      });
      // svd rank 10 = min(out, cols): the SVD keeps the pruned delta whole.
      const g = combineAdapters([a, b], weights, {
        combinationType: 'dare_linear_svd',
        density: d,
        seed: s,
        svdRank: 10,
      }).modules[0]!;
      loraDeltaRef(g.factors.up!, g.factors.down!, g.alpha / g.rank).forEach((x, i) => {
        sumDelta[i]! += x;
      });
    }
    // Factors: A_new = Σ c_i A_i mask_i / d with c = sign(w s)·sqrt|w s|; Var = Σ c_i² A_i² (1-d)/d.
    const ma = a.modules[0]!;
    const mb = b.modules[0]!;
    const c = [ma, mb].map((m, i) => weights[i]! * (m.alpha / m.rank));
    const cA = c.map((x) => Math.sign(x) * Math.sqrt(Math.abs(x)));
    let worst = 0;
    lin.factors.down!.data.forEach((expected, i) => {
      const v =
        ((cA[0]! * ma.factors.down!.data[i]!) ** 2 + (cA[1]! * mb.factors.down!.data[i]!) ** 2) *
        ((1 - d) / d);
      const sd = Math.sqrt(v / seeds);
      if (sd > 0) worst = Math.max(worst, Math.abs(sumDown[i]! / seeds - expected) / sd);
    });
    expect(worst).toBeLessThanOrEqual(5);
    // Delta: Σ_i w_i s_i ΔW_i mask_i / d, entry-wise Var = Σ (w_i s_i ΔW_i)² (1-d)/d.
    const da = loraDeltaRef(ma.factors.up!, ma.factors.down!, c[0]!);
    const db = loraDeltaRef(mb.factors.up!, mb.factors.down!, c[1]!);
    let worstDelta = 0;
    for (let i = 0; i < da.length; i++) {
      const sd = Math.sqrt(((da[i]! ** 2 + db[i]! ** 2) * ((1 - d) / d)) / seeds);
      worstDelta = Math.max(worstDelta, Math.abs(sumDelta[i]! / seeds - (da[i]! + db[i]!)) / sd);
    }
    expect(worstDelta).toBeLessThanOrEqual(5);
  }, 60_000);

  it('density >= 1 prunes nothing: dare_linear equals linear', () => {
    const lin = combineAdapters([a, b], weights, { combinationType: 'linear' }).modules[0]!;
    const dare = combineAdapters([a, b], weights, { combinationType: 'dare_linear', density: 1 }).modules[0]!;
    expect(dare.factors.down!.data).toEqual(lin.factors.down!.data);
    expect(dare.factors.up!.data).toEqual(lin.factors.up!.data);
  });
});
