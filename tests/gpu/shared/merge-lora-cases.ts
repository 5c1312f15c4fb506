/**
 * merge-lora against an independent float64 test oracle (written here, not the app's CPU merge),
 * on odd shapes, in f32 and in packed f16. Shared by tests/gpu/merge-lora.test.ts (Dawn) and the
 * browser kernel page (Chromium).
 *
 * Tolerances:
 * - f32: max |gpu - oracle| <= 1e-5 * max|W_eff|. The kernel rounds each product and sum to f32:
 *   over R terms the error of a sum is at most ~R * 2^-24 * sum|terms| and in practice (errors
 *   of random sign) ~sqrt(R) * 2^-24 * sum|terms|. With R <= 128 and terms of the order of
 *   max|W| / sqrt(R) (as below and as in real LoRAs), that is ~1e-6 * max|W|: a 10x margin.
 * - f16: the oracle's exact result rounded to f16 (our round-to-nearest-even). The GPU's
 *   `pack2x16float` may round either way (WGSL leaves it to the implementation), so 1 ulp is
 *   allowed; where the result nearly cancels and an f16 ulp is smaller than the f32 accumulation
 *   error above, that f32 bound applies instead.
 */
import { f16BitsToF32, packedF16BitsAt, packF16 } from '../../../src/core/gpu/f16.ts';
import {
  type AdapterFactors,
  concatFactors,
  mergeLora,
  mergeLoraKernel,
  mergeShape,
  rankScales,
} from '../../../src/core/gpu/kernels/merge-lora/merge-lora.ts';
import { pipelineCacheFor } from '../../../src/core/gpu/pipeline-cache.ts';
import { createStorageBuffer } from '../../../src/core/gpu/storage-buffer.ts';
import { type WeightDtype, weightWords } from '../../../src/core/gpu/weight-words.ts';
import { checkAtMost, checkEqual } from './check.ts';
import { type KernelSuite, readBuffer } from './kernel-case.ts';
import { checkF16Close, checkF32Close, randomArray, rng } from './module-merge-harness.ts';

/** TEST ORACLE: W0 + sum over adapters of c * up @ down, accumulated in float64. */
function oracleMerge(
  w0: ArrayLike<number>,
  out: number,
  inF: number,
  adapters: readonly AdapterFactors[],
): Float64Array {
  const w = Float64Array.from(w0);
  for (const a of adapters) {
    for (let o = 0; o < out; o++) {
      for (let r = 0; r < a.rank; r++) {
        const u = a.coefficient * a.up[o * a.rank + r]!;
        for (let i = 0; i < inF; i++) w[o * inF + i]! += u * a.down[r * inF + i]!;
      }
    }
  }
  return w;
}

interface Case {
  name: string;
  /** The weight's shape (a conv's [out, in_ch, kh, kw]). */
  shape: number[];
  ranks: number[];
}

function makeAdapters(out: number, inF: number, ranks: number[], next: () => number): AdapterFactors[] {
  const total = ranks.reduce((s, r) => s + r, 0);
  // Terms of order max|W| / sqrt(R): each up/down entry ~ R^-1/4, as a trained LoRA's delta is
  // comparable to W0, not R times larger.
  const amp = total > 0 ? total ** -0.25 : 1;
  const coefficients = [0.8, -0.5, 1.25, 0.3];
  return ranks.map((rank, n) => ({
    name: `adapter${n}`,
    rank,
    up: randomArray(out * rank, amp, next),
    down: randomArray(rank * inF, amp, next),
    coefficient: coefficients[n % coefficients.length]!,
  }));
}

async function runMerge(
  device: GPUDevice,
  dtype: WeightDtype,
  out: number,
  inF: number,
  w0Words: Uint32Array,
  adapters: readonly AdapterFactors[],
  module: string,
): Promise<{ words: Uint32Array; scaleBuffer: GPUBuffer; rerun: () => Promise<Uint32Array> }> {
  const f = concatFactors(module, out, inF, adapters);
  const w0 = createStorageBuffer(device, { label: `${module}:w0`, data: w0Words });
  const up = createStorageBuffer(device, { label: `${module}:up`, data: f.up });
  const down = createStorageBuffer(device, { label: `${module}:down`, data: f.down });
  const scale = createStorageBuffer(device, { label: `${module}:scale`, data: f.scale });
  const wEff = createStorageBuffer(device, { label: `${module}:w_eff`, byteLength: w0Words.byteLength });
  const rerun = async () => {
    await mergeLora(device, {
      module,
      dtype,
      outFeatures: out,
      inFeatures: inF,
      rank: f.rank,
      w0,
      up,
      scale,
      down,
      wEff,
    });
    return new Uint32Array(await readBuffer(device, wEff, w0Words.byteLength));
  };
  return { words: await rerun(), scaleBuffer: scale, rerun };
}

const cases: Case[] = [
  { name: '1x1 rank 1', shape: [1, 1], ranks: [1] },
  { name: '7x13 rank 3', shape: [7, 13], ranks: [3] },
  { name: '7x13 rank 1 + rank 2 (two adapters)', shape: [7, 13], ranks: [1, 2] },
  { name: '65x67 rank 17 (partial tiles and rank chunk)', shape: [65, 67], ranks: [17] },
  { name: '3x3 conv out 8 in 5 rank 4', shape: [8, 5, 3, 3], ranks: [4] },
  { name: '3x3 conv out 8 in 5 rank 1', shape: [8, 5, 3, 3], ranks: [1] },
  { name: '320x768 rank 128 over 4 adapters', shape: [320, 768], ranks: [8, 16, 40, 64] },
  { name: '9x11 rank 0 (no adapter: W_eff = W0)', shape: [9, 11], ranks: [] },
];

const f32Suite: KernelSuite = {
  name: 'merge-lora (f32)',
  cases: [
    ...cases.map((c) => ({
      name: c.name,
      async run(device: GPUDevice) {
        const { outFeatures: out, inFeatures: inF } = mergeShape(c.shape);
        const next = rng(out * 1000 + inF);
        const w0 = randomArray(out * inF, 1, next);
        const adapters = makeAdapters(out, inF, c.ranks, next);
        const { words } = await runMerge(
          device,
          'f32',
          out,
          inF,
          new Uint32Array(w0.buffer),
          adapters,
          c.name,
        );
        checkF32Close(new Float32Array(words.buffer), oracleMerge(w0, out, inF, adapters), c.name);
      },
    })),
    {
      name: 'a coefficient change rewrites only the scale buffer',
      async run(device) {
        const [out, inF] = [33, 21];
        const next = rng(7);
        const w0 = randomArray(out * inF, 1, next);
        const adapters = makeAdapters(out, inF, [5, 3], next);
        const run = await runMerge(
          device,
          'f32',
          out,
          inF,
          new Uint32Array(w0.buffer),
          adapters,
          'scale-update',
        );
        const moved = adapters.map((a, n) => ({ ...a, coefficient: n === 0 ? -2 : 0.1 }));
        device.queue.writeBuffer(run.scaleBuffer, 0, rankScales(moved));
        const words = await run.rerun();
        checkF32Close(new Float32Array(words.buffer), oracleMerge(w0, out, inF, moved), 'scale-update');
      },
    },
  ],
};

const f16Suite: KernelSuite = {
  name: 'merge-lora (packed f16)',
  cases: cases.map((c) => ({
    name: c.name,
    async run(device: GPUDevice) {
      const { outFeatures: out, inFeatures: inF } = mergeShape(c.shape);
      const next = rng(out * 7 + inF);
      const w0Words = packF16(randomArray(out * inF, 1, next));
      const padded = (out * inF) % 2 === 1;
      // A marker in the padding half of an odd count: the kernel must leave it as it is.
      if (padded) w0Words[w0Words.length - 1]! |= 0x3c00 << 16;
      const w0 = Float64Array.from({ length: out * inF }, (_, i) =>
        f16BitsToF32(packedF16BitsAt(w0Words, i)),
      );
      const adapters = makeAdapters(out, inF, c.ranks, next);
      const { words } = await runMerge(device, 'f16', out, inF, w0Words, adapters, c.name);
      checkEqual(words.length, weightWords('f16', out * inF), `${c.name}: words`);
      checkF16Close(words, oracleMerge(w0, out, inF, adapters), c.name);
      if (padded) checkEqual(words[words.length - 1]! >>> 16, 0x3c00, `${c.name}: the padding half`);
    },
  })),
};

const cacheSuite: KernelSuite = {
  name: 'merge-lora pipeline cache',
  cases: [
    {
      name: 'compiles one pipeline per dtype, none for a new shape',
      async run(device) {
        const cache = pipelineCacheFor(device);
        const next = rng(3);
        const merge = async (dtype: WeightDtype, out: number, inF: number, ranks: number[]) => {
          const w0 =
            dtype === 'f32'
              ? new Uint32Array(randomArray(out * inF, 1, next).buffer)
              : packF16(randomArray(out * inF, 1, next));
          await runMerge(
            device,
            dtype,
            out,
            inF,
            w0,
            makeAdapters(out, inF, ranks, next),
            `cache-${out}x${inF}`,
          );
        };
        await merge('f32', 5, 6, [2]);
        const afterFirst = cache.compiled;
        await merge('f32', 17, 3, [9]);
        await merge('f32', 130, 70, [1, 4]);
        checkEqual(cache.compiled, afterFirst, 'pipelines compiled after two new f32 shapes');
        await merge('f16', 5, 6, [2]);
        const afterF16 = cache.compiled;
        await merge('f16', 31, 9, [3]);
        checkEqual(cache.compiled, afterF16, 'pipelines compiled after a new f16 shape');
        checkAtMost(afterF16 - afterFirst, 1, 'pipelines compiled for f16');
        // The two dtypes share a kernel but not a pipeline.
        await cache.get(mergeLoraKernel, 'f16', mergeLoraKernel.overrides);
        checkEqual(cache.compiled, afterF16, 'pipelines compiled after asking for the f16 one again');
      },
    },
  ],
};

export const MERGE_LORA_SUITES: KernelSuite[] = [f32Suite, f16Suite, cacheSuite];
