/**
 * The LyCORIS merge kernels (tucker-core, loha, kron-merge, add-delta) through `mergeModule`,
 * against the CPU oracle `applyAdapters` on odd shapes, in f32 and packed f16. Tolerances and
 * their reasons: module-merge-harness.ts. Shared by kernels-lycoris.test.ts and the browser page.
 */
import { mergeModule } from '../../../src/core/gpu/merge-module.ts';
import { planModuleMerge } from '../../../src/core/gpu/merge-plan.ts';
import { createStorageBuffer } from '../../../src/core/gpu/storage-buffer.ts';
import type { WeightDtype } from '../../../src/core/gpu/weight-words.ts';
import type { AdapterTerm } from '../../../src/core/lora/merge-cpu.ts';
import { checkEqual, checkRejects } from './check.ts';
import { type KernelCase, type KernelSuite, readBuffer } from './kernel-case.ts';
import { checkMatchesOracle, type ModuleSpec, makeModule, rng } from './module-merge-harness.ts';

interface Case {
  name: string;
  shape: number[];
  spec: ModuleSpec;
  coefficient?: number;
  bias?: boolean;
  /** Also run in packed f16. */
  f16?: boolean;
}

/** One suite: each case in f32 (and in packed f16 where `f16`), against the oracle. */
function suite(kind: string, cases: Case[]): KernelSuite {
  const out: KernelCase[] = [];
  for (const [n, c] of cases.entries()) {
    const dtypes: WeightDtype[] = c.f16 ? ['f32', 'f16'] : ['f32'];
    for (const dtype of dtypes) {
      out.push({
        name: `${c.name} (${dtype})`,
        async run(device) {
          const seed = 1000 * n + c.shape.reduce((a, b) => a + b, 0);
          const module = makeModule(c.spec, rng(seed + 1), c.name);
          await checkMatchesOracle(device, {
            dtype,
            shape: c.shape,
            terms: [{ module, coefficient: c.coefficient ?? 0.8 }],
            bias: c.bias,
            seed,
          });
        },
      });
    }
  }
  return { name: kind, cases: out };
}

const tuckerConv = (out: number, inCh: number, r: number): ModuleSpec => ({
  kind: 'locon-tucker',
  rank: r,
  alpha: r / 2,
  factors: { down: [r, inCh, 1, 1], mid: [r, r, 3, 3], up: [out, r, 1, 1] },
});

const loconTuckerSuite = suite('LoCon Tucker', [
  { name: '3x3 conv 1x1 rank 1', shape: [1, 1, 3, 3], spec: tuckerConv(1, 1, 1) },
  { name: '3x3 conv 7x13 rank 3', shape: [7, 13, 3, 3], spec: tuckerConv(7, 13, 3), coefficient: -1.3 },
  { name: '3x3 conv 32x20 rank 128', shape: [32, 20, 3, 3], spec: tuckerConv(32, 20, 128) },
  { name: '3x3 conv 320x64 rank 16', shape: [320, 64, 3, 3], spec: tuckerConv(320, 64, 16) },
]);

const loha = (out: number, n: number, r: number): ModuleSpec => ({
  kind: 'loha',
  rank: r,
  alpha: Math.max(1, r / 4),
  factors: { w1a: [out, r], w1b: [r, n], w2a: [out, r], w2b: [r, n] },
});
const lohaTucker = (out: number, inCh: number, r: number): ModuleSpec => ({
  kind: 'loha',
  rank: r,
  factors: {
    w1a: [r, out],
    w1b: [r, inCh],
    t1: [r, r, 3, 3],
    w2a: [r, out],
    w2b: [r, inCh],
    t2: [r, r, 3, 3],
  },
});

const lohaSuite = suite('LoHa', [
  { name: '1x1 rank 1', shape: [1, 1], spec: loha(1, 1, 1), f16: true },
  { name: '7x13 rank 3', shape: [7, 13], spec: loha(7, 13, 3), coefficient: 1.7, f16: true },
  { name: '3x3 conv 8x5 rank 4', shape: [8, 5, 3, 3], spec: loha(8, 45, 4) },
  {
    name: '65x67 rank 17 (partial tiles and rank chunks)',
    shape: [65, 67],
    spec: loha(65, 67, 17),
    f16: true,
  },
  { name: '320x768 rank 128', shape: [320, 768], spec: loha(320, 768, 128), f16: true },
  {
    name: 'Tucker 3x3 conv 1x1 rank 1',
    shape: [1, 1, 3, 3],
    spec: { ...lohaTucker(1, 1, 1), amplitude: 1.5 },
  },
  { name: 'Tucker 3x3 conv 7x13 rank 3', shape: [7, 13, 3, 3], spec: lohaTucker(7, 13, 3), f16: true },
]);

const lokr = (factors: Record<string, number[]>, rank: number, alpha = rank): ModuleSpec => ({
  kind: 'lokr',
  rank,
  alpha,
  amplitude: 0.8,
  factors,
});

const lokrSuite = suite('LoKr', [
  { name: '1x1, both factors whole', shape: [1, 1], spec: lokr({ w1: [1, 1], w2: [1, 1] }, 1, 7) },
  {
    name: '7x13, both factors whole (alpha ignored)',
    shape: [7, 13],
    spec: lokr({ w1: [7, 1], w2: [1, 13] }, 1, 5),
    f16: true,
  },
  {
    name: '320x768, w2 low-rank rank 128',
    shape: [320, 768],
    spec: { ...lokr({ w1: [4, 8], w2a: [80, 128], w2b: [128, 96] }, 128, 64), amplitude: 0.3 },
    f16: true,
  },
  {
    name: '24x35, both factors low-rank rank 1',
    shape: [24, 35],
    spec: lokr({ w1a: [4, 1], w1b: [1, 5], w2a: [6, 1], w2b: [1, 7] }, 1),
  },
  {
    name: '3x3 conv 4x6, w2 whole [2,2,3,3]',
    shape: [4, 6, 3, 3],
    spec: lokr({ w1: [2, 3], w2: [2, 2, 3, 3] }, 1),
  },
  {
    name: '3x3 conv 8x6, w2 Tucker rank 2',
    shape: [8, 6, 3, 3],
    spec: lokr({ w1: [2, 2], t2: [2, 2, 3, 3], w2a: [2, 4], w2b: [2, 3] }, 2, 1),
  },
  {
    name: '3x3 conv 8x6, w2b [r, d*kh*kw]',
    shape: [8, 6, 3, 3],
    spec: lokr({ w1: [2, 2], w2a: [4, 3], w2b: [3, 27] }, 3),
  },
]);

const full = (shape: number[], bias: boolean): ModuleSpec => ({
  kind: 'full',
  rank: 1,
  amplitude: 0.5,
  factors: bias ? { diff: shape, diffBias: [shape[0]!] } : { diff: shape },
});

const fullDiffSuite = suite('full diff', [
  { name: '1x1', shape: [1, 1], spec: full([1, 1], false) },
  { name: '7x13 with diff_b', shape: [7, 13], spec: full([7, 13], true), bias: true, f16: true },
  { name: '3x3 conv 8x5', shape: [8, 5, 3, 3], spec: full([8, 5, 3, 3], false) },
  { name: '320x768', shape: [320, 768], spec: full([320, 768], false) },
]);

const normSuite = suite('norm', [
  {
    name: 'GroupNorm 7 with b_norm',
    shape: [7],
    spec: { kind: 'norm', rank: 1, amplitude: 0.5, factors: { wNorm: [7], bNorm: [7] } },
    bias: true,
    f16: true,
  },
  {
    name: 'LayerNorm 1',
    shape: [1],
    spec: { kind: 'norm', rank: 1, amplitude: 0.5, factors: { wNorm: [1] } },
  },
]);

const mixed = (next: () => number): AdapterTerm[] => [
  {
    module: makeModule(
      { kind: 'lora', rank: 2, alpha: 1, factors: { down: [2, 13], up: [7, 2], bias: [7] } },
      next,
      'a',
    ),
    coefficient: 0.9,
  },
  { module: makeModule(loha(7, 13, 3), next, 'b'), coefficient: -0.6 },
  { module: makeModule(lokr({ w1: [7, 1], w2a: [1, 2], w2b: [2, 13] }, 2), next, 'c'), coefficient: 1.1 },
  { module: makeModule(full([7, 13], true), next, 'd'), coefficient: 0.4 },
];

const several: KernelSuite = {
  name: 'several adapters on one module',
  cases: [
    ...(['f32', 'f16'] as const).map(
      (dtype): KernelCase => ({
        name: `7x13: LoRA with bias + LoHa + LoKr + full with bias, 4 adapters (${dtype})`,
        run: (device) =>
          checkMatchesOracle(device, { dtype, shape: [7, 13], terms: mixed(rng(42)), bias: true, seed: 43 }),
      }),
    ),
    {
      name: '320x768: four LoRAs of ranks 8+16+40+64 are one merge-lora launch',
      async run(device) {
        const next = rng(5);
        const terms = [8, 16, 40, 64].map((r, i) => ({
          module: makeModule(
            { kind: 'lora', rank: r, alpha: r / 2, factors: { down: [r, 768], up: [320, r] } },
            next,
            `l${i}`,
          ),
          coefficient: [0.8, -0.5, 1.25, 0.3][i]!,
        }));
        checkEqual(planModuleMerge(terms, [320, 768]).terms.length, 1, 'planned launches');
        await checkMatchesOracle(device, { dtype: 'f32', shape: [320, 768], terms, seed: 6 });
      },
    },
    {
      name: '3x3 conv LoRA (down [r, in, 3, 3]) + LoCon Tucker',
      async run(device) {
        const next = rng(8);
        const terms = [
          {
            module: makeModule(
              { kind: 'lora', rank: 4, factors: { down: [4, 5, 3, 3], up: [8, 4, 1, 1] } },
              next,
              'l',
            ),
            coefficient: 1,
          },
          { module: makeModule(tuckerConv(8, 5, 3), next, 't'), coefficient: 0.5 },
        ];
        await checkMatchesOracle(device, { dtype: 'f32', shape: [8, 5, 3, 3], terms, seed: 9 });
      },
    },
    {
      name: 'strength 0 everywhere: W_eff is W0, bit for bit (odd f16 count, padding kept)',
      async run(device) {
        const module = makeModule(loha(3, 5, 2), rng(10), 'z');
        const words = Uint32Array.from([
          0x3c003800, 0xbc00c000, 0x12345678, 0x40004400, 0x3c003555, 0x5555, 0x1, 0x3c000001,
        ]);
        const w0 = createStorageBuffer(device, { label: 'z:w0', data: words });
        const wEff = createStorageBuffer(device, { label: 'z:w_eff', byteLength: words.byteLength });
        await mergeModule(device, {
          module: 'z',
          dtype: 'f16',
          weightShape: [3, 5],
          w0,
          wEff,
          terms: [{ module, coefficient: 0 }],
        });
        checkEqual(new Uint32Array(await readBuffer(device, wEff)), words, 'W_eff words');
        w0.destroy();
        wEff.destroy();
      },
    },
    {
      name: 'refuses a bias change without bias buffers, and a delta of the wrong size',
      async run(device) {
        const next = rng(11);
        const w0 = createStorageBuffer(device, { label: 'e:w0', byteLength: 7 * 13 * 4 });
        const wEff = createStorageBuffer(device, { label: 'e:w_eff', byteLength: 7 * 13 * 4 });
        const withBias = makeModule(full([7, 13], true), next, 'e');
        await checkRejects(
          mergeModule(device, {
            module: 'e',
            dtype: 'f32',
            weightShape: [7, 13],
            w0,
            wEff,
            terms: [{ module: withBias, coefficient: 1 }],
          }),
          { code: 'invalid-argument' },
          'a bias change without bias buffers',
        );
        const wrong = makeModule(loha(7, 12, 2), next, 'w');
        await checkRejects(
          mergeModule(device, {
            module: 'e',
            dtype: 'f32',
            weightShape: [7, 13],
            w0,
            wEff,
            terms: [{ module: wrong, coefficient: 1 }],
          }),
          { code: 'lora-shape-mismatch' },
          'a delta of the wrong size',
        );
        w0.destroy();
        wEff.destroy();
      },
    },
  ],
};

export const LYCORIS_SUITES: KernelSuite[] = [
  loconTuckerSuite,
  lohaSuite,
  lokrSuite,
  fullDiffSuite,
  normSuite,
  several,
];
