/**
 * The GPU merge plan (pure TS): which product each canonical module becomes, with which
 * coefficients. A small CPU interpreter of the plan (written here from the kernels' stated
 * formulas) must reproduce the oracle's `deltaWeight` for every kind, so routing, factor layout
 * (Tucker transposes, LoRA concatenation) and scales are checked without a GPU.
 */
import { describe, expect, it } from 'vitest';
import {
  type Down,
  doraGroups,
  doraStyle,
  type KronFactor,
  type LowRank,
  type Product,
  planModuleMerge,
} from '../../src/core/gpu/merge-plan.ts';
import { linearDispatch, withWeightWords } from '../../src/core/gpu/weight-words.ts';
import type { AdapterKind, AdapterModule } from '../../src/core/lora/adapter.ts';
import { axisNorms, FLOAT32_EPS } from '../../src/core/lora/math/dora.ts';
import { deltaWeight } from '../../src/core/lora/merge-cpu.ts';

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * 2 - 1;
  };
}

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function mod(
  kind: AdapterKind,
  factors: Record<string, number[]>,
  rank: number,
  alpha: number,
  seed = 1,
): AdapterModule {
  const next = rng(seed);
  const f: AdapterModule['factors'] = {};
  for (const [k, shape] of Object.entries(factors)) {
    f[k] = { shape, data: Float32Array.from({ length: numel(shape) }, next) };
  }
  return {
    component: 'unet',
    module: `m${seed}`,
    kind,
    factors: f,
    alpha,
    rank,
    format: 'lycoris',
    sourceKeys: [],
  };
}

// --- CPU interpreter of plan products, from the kernel headers' formulas -------------------------

function downOf(d: Down, rank: number, cols: number): Float64Array {
  if (d.from === 'dense') return Float64Array.from(d.data);
  const { r1, r2, q, kernel } = d.shape;
  expect(rank).toBe(r1);
  expect(cols).toBe(q * kernel);
  const out = new Float64Array(r1 * q * kernel);
  for (let i = 0; i < r1; i++)
    for (let qq = 0; qq < q; qq++)
      for (let k = 0; k < kernel; k++) {
        let s = 0;
        for (let j = 0; j < r2; j++) s += d.core[(i * r2 + j) * kernel + k]! * d.wb[j * q + qq]!;
        out[(i * q + qq) * kernel + k] = s;
      }
  return out;
}

function lowRank(p: LowRank, scale?: Float32Array): Float64Array {
  const down = downOf(p.down, p.rank, p.cols);
  const out = new Float64Array(p.rows * p.cols);
  for (let o = 0; o < p.rows; o++)
    for (let r = 0; r < p.rank; r++) {
      const u = p.up[o * p.rank + r]! * (scale ? scale[r]! : 1);
      for (let i = 0; i < p.cols; i++) out[o * p.cols + i]! += u * down[r * p.cols + i]!;
    }
  return out;
}

function kronDense(f: KronFactor): { rows: number; cols: number; data: ArrayLike<number> } {
  return f.form === 'dense' ? f : { rows: f.pair.rows, cols: f.pair.cols, data: lowRank(f.pair) };
}

function evaluate(p: Product): Float64Array {
  switch (p.op) {
    case 'low-rank':
      return lowRank(p.pair, p.scale);
    case 'hadamard': {
      const a = lowRank(p.first);
      const b = lowRank(p.second);
      return a.map((v, i) => p.coefficient * v * b[i]!);
    }
    case 'kron': {
      const w1 = kronDense(p.w1);
      const w2 = kronDense(p.w2);
      const cols = w1.cols * w2.cols;
      const out = new Float64Array(w1.rows * w2.rows * cols);
      for (let e = 0; e < out.length; e++) {
        const row = Math.floor(e / cols);
        const col = e % cols;
        const a = w1.data[Math.floor(row / w2.rows) * w1.cols + Math.floor(col / w2.cols)]!;
        out[e] = p.coefficient * a * w2.data[(row % w2.rows) * w2.cols + (col % w2.cols)]!;
      }
      return out;
    }
    case 'dense':
      return Float64Array.from(p.data, (v) => p.coefficient * v);
  }
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>): void {
  expect(got.length).toBe(want.length);
  let m = 0;
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(want[i]!));
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(1e-5 * m);
}

// -------------------------------------------------------------------------------------------------

const kinds: [string, AdapterModule, number[]][] = [
  ['lora conv', mod('lora', { down: [3, 5, 3, 3], up: [4, 3, 1, 1] }, 3, 1.5), [4, 5, 3, 3]],
  [
    'locon-tucker',
    mod('locon-tucker', { down: [3, 5, 1, 1], mid: [3, 3, 3, 3], up: [4, 3, 1, 1] }, 3, 2),
    [4, 5, 3, 3],
  ],
  ['loha', mod('loha', { w1a: [6, 2], w1b: [2, 7], w2a: [6, 3], w2b: [3, 7] }, 2, 1), [6, 7]],
  [
    'loha tucker',
    mod(
      'loha',
      { w1a: [2, 4], w1b: [2, 5], t1: [2, 2, 3, 3], w2a: [2, 4], w2b: [2, 5], t2: [2, 2, 3, 3] },
      2,
      3,
    ),
    [4, 5, 3, 3],
  ],
  ['lokr whole', mod('lokr', { w1: [2, 3], w2: [3, 2] }, 1, 9), [6, 6]],
  ['lokr low-rank', mod('lokr', { w1a: [2, 1], w1b: [1, 3], w2a: [3, 2], w2b: [2, 2] }, 2, 1), [6, 6]],
  [
    'lokr tucker',
    mod('lokr', { w1: [2, 2], t2: [2, 2, 3, 3], w2a: [2, 3], w2b: [2, 2] }, 2, 1),
    [6, 4, 3, 3],
  ],
  ['full', mod('full', { diff: [5, 3] }, 1, 1), [5, 3]],
  ['norm', mod('norm', { wNorm: [5] }, 1, 1), [5]],
];

describe('planModuleMerge', () => {
  for (const [name, m, shape] of kinds) {
    it(`${name}: the plan's product is the oracle's delta`, () => {
      const plan = planModuleMerge([{ module: m, coefficient: 0.7 }], shape);
      expect(plan.count).toBe(numel(shape));
      expect(plan.terms).toHaveLength(1);
      const want = deltaWeight(m, undefined, 0.7, { targetShape: shape }).weight.data;
      expectClose(evaluate(plan.terms[0]!.product), want);
    });
  }

  it('joins plain LoRA terms into one product with per-rank coefficients; drops strength 0', () => {
    const a = mod('lora', { down: [1, 3], up: [2, 1] }, 1, 2, 1);
    const b = mod('lora', { down: [2, 3], up: [2, 2] }, 2, 1, 2);
    const z = mod('lora', { down: [2, 3], up: [2, 2] }, 2, 1, 3);
    const plan = planModuleMerge(
      [
        { module: a, coefficient: 0.5 },
        { module: z, coefficient: 0 },
        { module: b, coefficient: -2 },
      ],
      [2, 3],
    );
    expect(plan.terms).toHaveLength(1);
    const p = plan.terms[0]!.product;
    if (p.op !== 'low-rank') throw new Error(p.op);
    expect(p.pair.rank).toBe(3);
    expect(Array.from(p.scale)).toEqual([0.5 * 2, -2 * 0.5, -2 * 0.5]);
    const up = (x: AdapterModule) => x.factors.up!.data;
    expect(Array.from(p.pair.up)).toEqual([up(a)[0], up(b)[0], up(b)[1], up(a)[1], up(b)[2], up(b)[3]]);
    const want = deltaWeight(a, undefined, 0.5).weight.data.map(
      (v, i) => v + deltaWeight(b, undefined, -2).weight.data[i]!,
    );
    expectClose(evaluate(p), want);
  });

  it('sums bias deltas of every kind that has one, with each term scale', () => {
    const l = mod('lora', { down: [2, 3], up: [4, 2], bias: [4] }, 2, 1, 4);
    const f = mod('full', { diff: [4, 3], diffBias: [4] }, 1, 1, 5);
    const plan = planModuleMerge(
      [
        { module: l, coefficient: 0.3 },
        { module: f, coefficient: -1.5 },
      ],
      [4, 3],
    );
    const want = deltaWeight(l, undefined, 0.3).bias!.data.map(
      (v, i) => v + deltaWeight(f, undefined, -1.5).bias!.data[i]!,
    );
    expectClose(plan.bias!, want);
    expect(planModuleMerge([{ module: l, coefficient: 0 }], [4, 3]).bias).toBeNull();
  });

  it('gives a DoRA term its scale only; the strength goes to the DoRA step per style', () => {
    const m = mod('lora', { down: [2, 3], up: [4, 2] }, 2, 1, 6);
    m.dora = { style: 'peft', axis: 'out', magnitude: { shape: [4], data: new Float32Array(4).fill(1) } };
    const peft = planModuleMerge([{ module: m, coefficient: 0.6 }], [4, 3]).terms[0]!;
    expect(peft.product.op === 'low-rank' && Array.from(peft.product.scale)).toEqual([0.5, 0.5]);
    expect(peft.dora).toMatchObject({ outer: 1, groups: 4, inner: 3, inside: 0.6, mix: 1, eps: 0 });
    m.dora = {
      style: 'lycoris',
      axis: 'in',
      magnitude: { shape: [1, 3], data: new Float32Array(3).fill(1) },
    };
    const lyco = planModuleMerge([{ module: m, coefficient: 0.6 }], [4, 3]).terms[0]!;
    expect(lyco.dora).toMatchObject({ outer: 4, groups: 3, inner: 1, inside: 1, mix: 0.6, eps: FLOAT32_EPS });
    expect(doraStyle('peft', 2)).toEqual({ inside: 2, mix: 1, eps: 0 });
  });

  it('refuses a product of the wrong size, a bad factor pair and a missing factor, naming the module', () => {
    const wrong = mod('loha', { w1a: [6, 2], w1b: [2, 7], w2a: [6, 2], w2b: [2, 7] }, 2, 1, 7);
    expect(() => planModuleMerge([{ module: wrong, coefficient: 1 }], [6, 8])).toThrow(
      expect.objectContaining({ code: 'lora-shape-mismatch', message: expect.stringContaining('unet.m7') }),
    );
    const inner = mod('lokr', { w1: [2, 2], w2a: [3, 2], w2b: [3, 2] }, 2, 1, 8);
    expect(() => planModuleMerge([{ module: inner, coefficient: 1 }], [6, 4])).toThrow(
      /inner dimensions differ/,
    );
    const missing = mod('loha', { w1a: [6, 2], w1b: [2, 7], w2a: [6, 2] }, 2, 1, 9);
    expect(() => planModuleMerge([{ module: missing, coefficient: 1 }], [6, 7])).toThrow(
      expect.objectContaining({ code: 'lora-invalid' }),
    );
  });
});

describe('doraGroups', () => {
  for (const [shape, axis] of [
    [[4, 6], 'out'],
    [[4, 6], 'in'],
    [[3, 5, 3, 3], 'out'],
    [[3, 5, 3, 3], 'in'],
  ] as const) {
    it(`[${shape}] per ${axis}: the [outer, groups, inner] view gives the oracle's norms`, () => {
      const w = Float32Array.from({ length: numel(shape) }, rng(10));
      const { outer, groups, inner } = doraGroups(shape, axis);
      expect(outer * groups * inner).toBe(w.length);
      const sums = new Float64Array(groups);
      for (let o = 0; o < outer; o++)
        for (let g = 0; g < groups; g++)
          for (let k = 0; k < inner; k++) sums[g]! += w[(o * groups + g) * inner + k]! ** 2;
      expectClose(sums.map(Math.sqrt), axisNorms(w, shape, axis));
    });
  }
});

describe('weight-words helpers', () => {
  it('dispatches every item in rows of at most 65535 workgroups', () => {
    expect(linearDispatch(0, 256)).toEqual([0, 0]);
    expect(linearDispatch(1, 256)).toEqual([1, 1]);
    const [x, y] = linearDispatch(29_491_200, 256);
    expect(x).toBeLessThanOrEqual(65535);
    expect(x * y * 256).toBeGreaterThanOrEqual(29_491_200);
  });

  it('appends the helpers after the kernel text, keeping its line numbers', () => {
    const src = withWeightWords('// kernel\nfn main() {}\n');
    expect(src.startsWith('// kernel\nfn main() {}\n')).toBe(true);
    expect(src).toContain('override PACKED_F16: bool;');
  });
});
