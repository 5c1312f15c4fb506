/**
 * DoRA on the GPU (dora-norm, dora-rescale, add-delta after the kind's product) through
 * `mergeModule`, against the CPU oracle `applyAdapters` (lora/math/dora.ts semantics): PEFT
 * (`lora_magnitude_vector`, strength inside the norm) and LyCORIS (`dora_scale`, the
 * A1111/ComfyUI interpolation with eps), per output row and per input column, f32 and packed f16.
 * Tolerances: module-merge-harness.ts. Shared by kernels-dora.test.ts and the browser page.
 */
import { planModuleMerge } from '../../../src/core/gpu/merge-plan.ts';
import type { WeightDtype } from '../../../src/core/gpu/weight-words.ts';
import type { AdapterModule, DoraSpec } from '../../../src/core/lora/adapter.ts';
import { axisNorms } from '../../../src/core/lora/math/dora.ts';
import type { AdapterTerm } from '../../../src/core/lora/merge-cpu.ts';
import { check, checkEqual, checkThrows } from './check.ts';
import type { KernelCase, KernelSuite } from './kernel-case.ts';
import {
  checkMatchesOracle,
  gpuMerge,
  type MergeCase,
  type ModuleSpec,
  makeModule,
  randomBase,
  rng,
} from './module-merge-harness.ts';

type Axis = DoraSpec['axis'];

/** Magnitude shapes as files store them. */
function magnitudeShape(style: DoraSpec['style'], axis: Axis, shape: number[]): number[] {
  const conv = shape.length === 4;
  if (axis === 'in') return conv ? [1, shape[1]!, 1, 1] : [1, shape[1]!];
  if (style === 'peft') return [shape[0]!];
  return conv ? [shape[0]!, 1, 1, 1] : [shape[0]!, 1];
}

/**
 * A DoRA module on a weight of `shape`: magnitudes near the base weight's norms along the axis
 * (as after training), so W_eff stays of the order of W0 and the rescale matters.
 */
function doraModule(
  spec: Omit<ModuleSpec, 'dora'>,
  style: DoraSpec['style'],
  axis: Axis,
  w0: Float32Array,
  shape: number[],
  next: () => number,
  name: string,
): AdapterModule {
  const norms = axisNorms(w0, shape, axis);
  const magnitude = Float32Array.from(norms, (n) => n * (1 + 0.3 * next()));
  return makeModule(
    { ...spec, dora: { style, axis, magnitude, shape: magnitudeShape(style, axis, shape) } },
    next,
    name,
  );
}

const lora = (out: number, inCh: number, r: number, kernel: number[] = []): Omit<ModuleSpec, 'dora'> => ({
  kind: 'lora',
  rank: r,
  alpha: r / 2,
  amplitude: 1.2 * r ** -0.25,
  factors:
    kernel.length > 0
      ? { down: [r, inCh, ...kernel], up: [out, r, 1, 1] }
      : { down: [r, inCh], up: [out, r] },
});

const loha = (out: number, n: number, r: number): Omit<ModuleSpec, 'dora'> => ({
  kind: 'loha',
  rank: r,
  amplitude: 1.2 * r ** -0.25,
  factors: { w1a: [out, r], w1b: [r, n], w2a: [out, r], w2b: [r, n] },
});

interface Case {
  name: string;
  shape: number[];
  spec: Omit<ModuleSpec, 'dora'>;
  style: DoraSpec['style'];
  axis: Axis;
  strength: number;
  f16?: boolean;
}

const cases: Case[] = [
  { name: 'PEFT 1x1 rank 1', shape: [1, 1], spec: lora(1, 1, 1), style: 'peft', axis: 'out', strength: 1 },
  {
    name: 'PEFT 7x13 rank 3',
    shape: [7, 13],
    spec: lora(7, 13, 3),
    style: 'peft',
    axis: 'out',
    strength: 0.7,
    f16: true,
  },
  {
    name: 'PEFT 320x768 rank 128',
    shape: [320, 768],
    spec: lora(320, 768, 128),
    style: 'peft',
    axis: 'out',
    strength: 1.3,
    f16: true,
  },
  {
    name: 'PEFT 3x3 conv 8x5 rank 4',
    shape: [8, 5, 3, 3],
    spec: lora(8, 5, 4, [3, 3]),
    style: 'peft',
    axis: 'out',
    strength: 0.5,
  },
  {
    name: 'LyCORIS per output row, 7x13 rank 1',
    shape: [7, 13],
    spec: lora(7, 13, 1),
    style: 'lycoris',
    axis: 'out',
    strength: 0.6,
    f16: true,
  },
  {
    name: 'LyCORIS per input column, 3x3 conv 8x5 rank 4',
    shape: [8, 5, 3, 3],
    spec: lora(8, 5, 4, [3, 3]),
    style: 'lycoris',
    axis: 'in',
    strength: 0.8,
    f16: true,
  },
  {
    name: 'LyCORIS per input column, 320x768 rank 128',
    shape: [320, 768],
    spec: lora(320, 768, 128),
    style: 'lycoris',
    axis: 'in',
    strength: 1,
  },
  {
    name: 'LyCORIS LoHa per output row, 7x13 rank 3',
    shape: [7, 13],
    spec: loha(7, 13, 3),
    style: 'lycoris',
    axis: 'out',
    strength: 0.9,
    f16: true,
  },
];

function caseList(): KernelCase[] {
  const out: KernelCase[] = [];
  for (const [n, c] of cases.entries()) {
    const dtypes: WeightDtype[] = c.f16 ? ['f32', 'f16'] : ['f32'];
    for (const dtype of dtypes) {
      out.push({
        name: `${c.name}, strength ${c.strength} (${dtype})`,
        async run(device) {
          const mc: MergeCase = { dtype, shape: c.shape, terms: [], seed: 100 + n };
          const w0 = randomBase(mc).weight.data;
          const module = doraModule(c.spec, c.style, c.axis, w0, c.shape, rng(200 + n), c.name);
          const plan = planModuleMerge([{ module, coefficient: c.strength }], c.shape);
          check(plan.terms[0]?.dora !== undefined, `${c.name}: the plan has no DoRA step`);
          await checkMatchesOracle(device, { ...mc, terms: [{ module, coefficient: c.strength }] });
        },
      });
    }
  }
  for (const dtype of ['f32', 'f16'] as const) {
    out.push({
      name: `7x13: PEFT DoRA + LyCORIS DoRA + two LoRAs, 4 adapters, each DoRA against W0 (${dtype})`,
      async run(device) {
        const shape = [7, 13];
        const mc: MergeCase = { dtype, shape, terms: [], seed: 300 };
        const w0 = randomBase(mc).weight.data;
        const next = rng(301);
        const terms: AdapterTerm[] = [
          { module: makeModule(lora(7, 13, 2), next, 'plain-a'), coefficient: 0.5 },
          { module: doraModule(lora(7, 13, 3), 'peft', 'out', w0, shape, next, 'peft'), coefficient: 0.8 },
          { module: makeModule(lora(7, 13, 4), next, 'plain-b'), coefficient: -0.4 },
          { module: doraModule(loha(7, 13, 2), 'lycoris', 'in', w0, shape, next, 'lyco'), coefficient: 0.6 },
        ];
        await checkMatchesOracle(device, { ...mc, terms });
      },
    });
  }
  out.push(
    {
      name: 'strength 0 puts a DoRA module out of the mix (W_eff = W0, no rescale by μ/‖W0‖)',
      async run(device) {
        const mc: MergeCase = { dtype: 'f32', shape: [7, 13], terms: [], seed: 400 };
        const base = randomBase(mc);
        const module = doraModule(
          lora(7, 13, 3),
          'peft',
          'out',
          base.weight.data,
          mc.shape,
          rng(401),
          'zero',
        );
        const got = await gpuMerge(device, { ...mc, terms: [{ module, coefficient: 0 }] }, base);
        checkEqual(new Float32Array(got.weight.buffer), base.weight.data, 'W_eff');
      },
    },
    {
      name: 'refuses a magnitude that does not fit the weight, naming the module',
      async run() {
        const next = rng(500);
        const module = makeModule(
          {
            ...lora(7, 13, 2),
            dora: { style: 'peft', axis: 'out', magnitude: new Float32Array(6), shape: [6] },
          },
          next,
          'bad',
        );
        checkThrows(
          () => planModuleMerge([{ module, coefficient: 1 }], [7, 13]),
          /DoRA magnitude \[6\]/,
          'a magnitude of 6 for 7 rows',
        );
      },
    },
  );
  return out;
}

export const DORA_SUITES: KernelSuite[] = [{ name: 'DoRA', cases: caseList() }];
