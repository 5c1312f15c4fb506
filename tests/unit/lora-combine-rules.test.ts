/**
 * The combination rules on hand-checked numbers and independent references: top-k magnitude
 * pruning (k = int(density·numel)), TIES sign election (`total` / `frequency`, 0 counts as +) and
 * the disjoint mean; the union of modules (a module missing from an adapter counts as zero);
 * conv k x k modules; svd clamping; and the errors (rank mismatch, density, DoRA, other kinds).
 * Expected values are written out by hand or computed with the naive loops of
 * lora-combine-helpers.ts; exact values where the arithmetic is exact, else 1e-6 relative
 * (float32 factors).
 */
import { describe, expect, it } from 'vitest';
import type { AdapterModule, CanonicalAdapter } from '../../src/core/lora/adapter.ts';
import { combineAdapters } from '../../src/core/lora/combine/index.ts';
import { disjointMean, electSigns, magnitudePrune } from '../../src/core/lora/combine/prune.ts';
import { quantile } from '../../src/core/lora/combine/svd.ts';
import { isLorafuseError, type LorafuseError } from '../../src/errors.ts';
import {
  get,
  loadWeightedCase,
  loraDeltaRef,
  maxAbs,
  maxAbsDiff,
  sourceAdapter,
} from './lora-combine-helpers.ts';
import { mod, rand, rng } from './lora-math-helpers.ts';

function caught(f: () => unknown): LorafuseError {
  try {
    f();
  } catch (e) {
    if (isLorafuseError(e)) return e;
    throw e;
  }
  throw new Error('expected a LorafuseError');
}

function loraModule(
  module: string,
  seed: number,
  out: number,
  cols: number,
  r: number,
  alpha: number,
): AdapterModule {
  const next = rng(seed);
  return mod('lora', { down: rand([r, cols], next), up: rand([out, r], next) }, r, alpha, { module });
}

function adapter(source: string, modules: AdapterModule[]): CanonicalAdapter {
  return { source, modules, unmapped: [], metadata: {} };
}

describe('pruning and sign election', () => {
  it('magnitudePrune keeps the int(density·numel) largest |x|', () => {
    const t = Float32Array.of(3, -1, 2, -5);
    expect([...magnitudePrune(t, 0.5)]).toEqual([3, 0, 0, -5]);
    expect([...magnitudePrune(t, 0.74)]).toEqual([3, 0, 0, -5]); // int(2.96) = 2
    expect([...magnitudePrune(t, 0.75)]).toEqual([3, 0, 2, -5]);
    expect([...magnitudePrune(t, 0)]).toEqual([0, 0, 0, 0]);
    expect([...magnitudePrune(t, 1)]).toEqual([3, -1, 2, -5]);
    expect([...magnitudePrune(Float32Array.of(1, -1, 1, 1), 0.5)]).toEqual([1, -1, 0, 0]);
  });

  it('electSigns: total = sign of the sum, frequency = sign of the count, 0 -> +', () => {
    const stack = [
      Float64Array.of(1, -2, 3, 0),
      Float64Array.of(-1, 1, -1, 0),
      Float64Array.of(-1, 0.5, -1, 0),
    ];
    // sums: -1, -0.5, 1, 0 ; sign counts: -1, +1, -1, 0
    expect([...electSigns(stack, 'total')]).toEqual([-1, -1, 1, 1]);
    expect([...electSigns(stack, 'frequency')]).toEqual([-1, 1, -1, 1]);
  });

  it('disjointMean averages the weighted entries that agree with the elected sign', () => {
    const stack = [
      Float64Array.of(1, -2, 3, 0),
      Float64Array.of(-1, 1, -1, 0),
      Float64Array.of(-1, 0.5, -1, 0),
    ];
    const w = [2, 3, 4];
    const signs = Int8Array.of(-1, 1, -1, 1);
    // entry 0: agreeing -1·3, -1·4 -> -3.5; entry 1: 1·3, 0.5·4 -> 2.5; entry 2: -3, -4 -> -3.5; entry 3: none -> 0
    expect([...disjointMean(stack, w, signs)]).toEqual([-3.5, 2.5, -3.5, 0]);
  });

  it('ties with frequency election: factor-wise, against a by-hand reference', () => {
    const a = adapter('a', [loraModule('m', 1, 3, 4, 2, 2)]);
    const b = adapter('b', [loraModule('m', 2, 3, 4, 2, 1)]);
    const w = [0.8, -0.5];
    const got = combineAdapters([a, b], w, {
      combinationType: 'ties',
      density: 0.5,
      majoritySignMethod: 'frequency',
    }).modules[0]!;
    // Reference, written from the PEFT description with plain loops.
    const c = [w[0]! * 1, w[1]! * 0.5];
    const ref = (xs: Float32Array[], ws: number[]) => {
      const pruned = xs.map((x) => {
        const k = Math.trunc(0.5 * x.length);
        const order = [...x.keys()].sort((i, j) => Math.abs(x[j]!) - Math.abs(x[i]!) || i - j);
        const keep = new Set(order.slice(0, k));
        return Array.from(x, (v, i) => (keep.has(i) ? v : 0));
      });
      return pruned[0]!.map((_, i) => {
        const count = pruned.reduce((s, p) => s + Math.sign(p[i]!), 0);
        const sign = count >= 0 ? 1 : -1;
        let sum = 0;
        let n = 0;
        pruned.forEach((p, j) => {
          if (Math.sign(p[i]!) === sign) {
            sum += ws[j]! * p[i]!;
            n++;
          }
        });
        return sum / Math.max(n, 1);
      });
    };
    const downs = [a, b].map((x) => x.modules[0]!.factors.down!.data);
    const ups = [a, b].map((x) => x.modules[0]!.factors.up!.data);
    const root = c.map((x) => Math.sqrt(Math.abs(x)));
    const refDown = ref(
      downs,
      root.map((x, i) => Math.sign(c[i]!) * x),
    );
    const refUp = ref(ups, root);
    expect(maxAbsDiff(got.factors.down!.data, refDown)).toBeLessThanOrEqual(1e-6 * maxAbs(refDown));
    expect(maxAbsDiff(got.factors.up!.data, refUp)).toBeLessThanOrEqual(1e-6 * maxAbs(refUp));
  });

  it('quantile interpolates linearly like torch.quantile', () => {
    expect(quantile(Float64Array.of(4, 1, 3, 2), 0.5)).toBe(2.5);
    expect(quantile(Float64Array.of(4, 1, 3, 2), 1)).toBe(4);
    expect(quantile(Float64Array.of(4, 1, 3, 2), 0)).toBe(1);
    expect(quantile(Float64Array.of(0, 10), 0.25)).toBe(2.5);
  });
});

describe('modules, shapes and the SVD path', () => {
  // X only in a, Y in both, Z only in b (b's Y has another alpha).
  const a = adapter('a', [loraModule('x', 1, 6, 5, 2, 2), loraModule('y', 2, 6, 5, 2, 1)]);
  const b = adapter('b', [loraModule('y', 3, 6, 5, 2, 4), loraModule('z', 4, 6, 5, 2, 2)]);
  const w = [0.6, -1.5];
  const expectedDelta = (id: string) => {
    const d = new Float64Array(30);
    [a, b].forEach((ad, i) => {
      const m = ad.modules.find((x) => x.module === id);
      if (!m) return;
      loraDeltaRef(m.factors.up!, m.factors.down!, (w[i]! * m.alpha) / m.rank).forEach((x, j) => {
        d[j]! += x;
      });
    });
    return d;
  };

  it('cat and full-rank svd give Σ w_i s_i ΔW_i on every module of the union', () => {
    for (const [combinationType, rank] of [
      ['cat', 4],
      ['svd', 5],
      ['magnitude_prune_svd', 5],
    ] as const) {
      const out = combineAdapters([a, b], w, {
        combinationType,
        ...(combinationType === 'svd' ? { svdRank: 5 } : { svdRank: 5, density: 1 }),
      });
      expect(out.modules.map((m) => m.module)).toEqual(['x', 'y', 'z']);
      for (const m of out.modules) {
        expect([m.rank, m.alpha], combinationType).toEqual([rank, rank]);
        const ref = expectedDelta(m.module);
        const got = loraDeltaRef(m.factors.up!, m.factors.down!, 1);
        expect(maxAbsDiff(got, ref), `${combinationType} ${m.module}`).toBeLessThanOrEqual(
          1e-6 * maxAbs(ref),
        );
      }
    }
  });

  it('linear on a module present in one adapter is that adapter at w·s', () => {
    const out = combineAdapters([a, b], w, { combinationType: 'linear' });
    const x = out.modules.find((m) => m.module === 'x')!;
    const ref = expectedDelta('x');
    expect(maxAbsDiff(loraDeltaRef(x.factors.up!, x.factors.down!, 1), ref)).toBeLessThanOrEqual(
      1e-6 * maxAbs(ref),
    );
  });

  it('the dense SVD path (magnitude_prune_svd at density 1) matches PEFT svd on the fixture', () => {
    const c = loadWeightedCase('tiny-sd15_peft_add_weighted_adapter_mixed_rank');
    const ads = c.sources.map((s) => sourceAdapter(c, s.adapter_name));
    const m = combineAdapters(ads, [1, 0.5], {
      combinationType: 'magnitude_prune_svd',
      density: 1,
      svdRank: 6,
    }).modules[0]!;
    const ref = get(c, 'svd.delta_weight').data;
    expect(maxAbsDiff(loraDeltaRef(m.factors.up!, m.factors.down!, 1), ref)).toBeLessThanOrEqual(
      1e-4 * maxAbs(ref),
    );
  });

  it('conv 3x3 (LoCon) modules: factors keep the conv layout, the delta is exact at full rank', () => {
    const next = rng(9);
    const conv = (seed: number) =>
      mod('lora', { down: rand([2, 3, 3, 3], rng(seed)), up: rand([4, 2, 1, 1], next) }, 2, 2, {
        module: 'c',
      });
    const inputs = [conv(10), conv(11)];
    const out = combineAdapters([adapter('a', [inputs[0]!]), adapter('b', [inputs[1]!])], [1, 0.5], {
      combinationType: 'svd',
      svdRank: 4,
    }).modules[0]!;
    expect(out.factors.down!.shape).toEqual([4, 3, 3, 3]);
    expect(out.factors.up!.shape).toEqual([4, 4, 1, 1]);
    // up.view(out, r) · down.view(r, in*3*3), summed with weights 1 and 0.5 (scale 1).
    const ref = loraDeltaRef(inputs[0]!.factors.up!, inputs[0]!.factors.down!, 1);
    loraDeltaRef(inputs[1]!.factors.up!, inputs[1]!.factors.down!, 0.5).forEach((x, i) => {
      ref[i]! += x;
    });
    const got = loraDeltaRef(out.factors.up!, out.factors.down!, 1);
    expect(maxAbsDiff(got, ref)).toBeLessThanOrEqual(1e-6 * maxAbs(ref));
  });

  it('svd clamp bounds both factors by the quantile of their entries', () => {
    const out = combineAdapters([a, b], w, { combinationType: 'svd', svdRank: 3, svdClamp: 0.9 });
    const free = combineAdapters([a, b], w, { combinationType: 'svd', svdRank: 3 });
    out.modules.forEach((m, i) => {
      const f = free.modules[i]!;
      const all = Float64Array.from([...f.factors.up!.data, ...f.factors.down!.data]);
      const h = quantile(all, 0.9);
      const clampRef = (x: number) => Math.min(Math.max(x, -h), h);
      expect(maxAbsDiff(m.factors.up!.data, Array.from(f.factors.up!.data, clampRef))).toBeLessThanOrEqual(
        1e-7,
      );
      expect(
        maxAbsDiff(m.factors.down!.data, Array.from(f.factors.down!.data, clampRef)),
      ).toBeLessThanOrEqual(1e-7);
      expect(maxAbs(m.factors.up!.data)).toBeLessThanOrEqual(Math.abs(h) + 1e-7);
    });
  });
});

describe('errors', () => {
  const r4 = adapter('four.safetensors', [loraModule('m', 1, 6, 5, 4, 4)]);
  const r2 = adapter('two.safetensors', [loraModule('m', 2, 6, 5, 2, 2)]);

  it('linear, ties, dare and magnitude_prune refuse different ranks, naming files and ranks', () => {
    for (const combinationType of [
      'linear',
      'ties',
      'dare_linear',
      'dare_ties',
      'magnitude_prune',
    ] as const) {
      const e = caught(() => combineAdapters([r4, r2], [1, 1], { combinationType, density: 0.5 }));
      expect(e.code).toBe('invalid-argument');
      expect(e.message).toContain('four.safetensors (rank 4)');
      expect(e.message).toContain('two.safetensors (rank 2)');
    }
    expect(combineAdapters([r4, r2], [1, 1], { combinationType: 'cat' }).modules[0]!.rank).toBe(6);
    expect(combineAdapters([r4, r2], [1, 1], { combinationType: 'svd' }).modules[0]!.rank).toBe(4);
  });

  it('pruning types need a density >= 0', () => {
    const same = adapter('other.safetensors', [loraModule('m', 3, 6, 5, 4, 4)]);
    for (const combinationType of ['ties', 'ties_svd', 'dare_linear', 'magnitude_prune_svd'] as const) {
      const e = caught(() => combineAdapters([r4, same], [1, 1], { combinationType }));
      expect(e.code).toBe('invalid-argument');
      expect(e.message).toMatch(/needs a density/);
    }
    expect(
      caught(() => combineAdapters([r4, same], [1, 1], { combinationType: 'ties', density: -0.1 })).message,
    ).toMatch(/density must be >= 0/);
  });

  it('a single adapter is combined as linear (no density needed)', () => {
    const one = combineAdapters([r4], [0.25], { combinationType: 'ties' }).modules[0]!;
    const m = r4.modules[0]!;
    const ref = loraDeltaRef(m.factors.up!, m.factors.down!, 0.25);
    expect(maxAbsDiff(loraDeltaRef(one.factors.up!, one.factors.down!, 1), ref)).toBeLessThanOrEqual(
      1e-6 * maxAbs(ref),
    );
  });

  it('refuses DoRA, LyCORIS kinds, bad options, and a weight count that does not match', () => {
    const dora = loraModule('m', 4, 6, 5, 4, 4);
    dora.dora = { magnitude: { shape: [6], data: new Float32Array(6).fill(1) }, axis: 'out', style: 'peft' };
    const e = caught(() =>
      combineAdapters([r4, adapter('dora.safetensors', [dora])], [1, 1], { combinationType: 'cat' }),
    );
    expect(e.code).toBe('not-implemented');
    expect(e.message).toMatch(/dora\.safetensors: module unet\.m: DoRA/);
    const loha = mod('loha', {}, 4, 4, { module: 'm' });
    expect(
      caught(() =>
        combineAdapters([r4, adapter('loha.safetensors', [loha])], [1, 1], { combinationType: 'cat' }),
      ).message,
    ).toMatch(/'loha' modules cannot be combined/);
    expect(caught(() => combineAdapters([r4, r2], [1], { combinationType: 'cat' })).code).toBe(
      'invalid-argument',
    );
    expect(
      caught(() => combineAdapters([r4, r2], [1, 1], { combinationType: 'svd', svdRank: 1.5 })).code,
    ).toBe('invalid-argument');
    expect(
      caught(() => combineAdapters([r4, r2], [1, 1], { combinationType: 'svd', svdClamp: 2 })).code,
    ).toBe('invalid-argument');
  });
});
