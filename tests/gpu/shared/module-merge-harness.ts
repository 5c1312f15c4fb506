/**
 * Shared by the LyCORIS and DoRA kernel cases (lycoris-cases.ts, dora-cases.ts): random canonical
 * modules, one GPU merge through `mergeModule`, and the comparison with the CPU oracle
 * `applyAdapters` (lora/merge-cpu.ts, itself tested against LyCORIS/PEFT reference deltas).
 * merge-lora-cases.ts uses its random data and tolerance checks. Framework-free: the same checks
 * run in Node on Dawn and in Chromium (check.ts).
 *
 * Tolerances (as in merge-lora.test.ts, whose reasoning applies term by term):
 * - f32: max |gpu - oracle| <= 1e-5 * max |W_eff|. The kernels accumulate in f32 (the oracle's
 *   products in f64, rounded to f32 once); over R <= 256 terms of order max|W| / sqrt(R) the
 *   f32 error is ~sqrt(R) * 2^-24 * sum|terms| ~ 1e-6 * max|W|, a 10x margin. A DoRA norm over
 *   n <= 768 squares adds a relative ~sqrt(n) * 2^-24 ~ 2e-6 to its row.
 * - f16: the oracle's f32 result rounded to f16 (round to nearest even). WGSL lets
 *   `pack2x16float` round either way, and the oracle's f32 result is itself rounded, so 1 ulp is
 *   allowed; where an f16 ulp is below the f32 bound (near-cancellation), that bound applies.
 * Each case also checks that its delta is not negligible (> 1e-2 * max |W_eff|), so that a
 * kernel that dropped the delta could not pass.
 */
import {
  f16BitsToF32,
  f32ToF16Bits,
  packedF16BitsAt,
  packF16,
  roundToF16,
} from '../../../src/core/gpu/f16.ts';
import { mergeModule } from '../../../src/core/gpu/merge-module.ts';
import { createStorageBuffer } from '../../../src/core/gpu/storage-buffer.ts';
import type { WeightDtype } from '../../../src/core/gpu/weight-words.ts';
import type { AdapterKind, AdapterModule, DoraSpec } from '../../../src/core/lora/adapter.ts';
import { type AdapterTerm, applyAdapters, type BaseParams } from '../../../src/core/lora/merge-cpu.ts';
import { check, checkAbove, checkEqual } from './check.ts';
import { readBuffer } from './kernel-case.ts';

/** Deterministic uniform [-1, 1) (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * 2 - 1;
  };
}

export const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

export function randomArray(n: number, amplitude: number, next: () => number): Float32Array {
  return Float32Array.from({ length: n }, () => next() * amplitude);
}

export interface ModuleSpec {
  kind: AdapterKind;
  /** Factor name -> shape; filled with uniform values of `amplitude`. */
  factors: Record<string, number[]>;
  rank: number;
  alpha?: number;
  /** Default 0.7 * rank^-1/4 (products of order 1, as in a trained adapter). */
  amplitude?: number;
  dora?: Omit<DoraSpec, 'magnitude'> & { magnitude: Float32Array; shape: number[] };
}

export function makeModule(spec: ModuleSpec, next: () => number, name = 'm'): AdapterModule {
  const amp = spec.amplitude ?? 0.7 * spec.rank ** -0.25;
  const factors: AdapterModule['factors'] = {};
  for (const [k, shape] of Object.entries(spec.factors)) {
    factors[k] = { shape, data: randomArray(numel(shape), amp, next) };
  }
  const m: AdapterModule = {
    component: 'unet',
    module: name,
    kind: spec.kind,
    factors,
    alpha: spec.alpha ?? spec.rank,
    rank: spec.rank,
    format: 'lycoris',
    sourceKeys: Object.keys(spec.factors).map((k) => `${name}.${k}`),
  };
  if (spec.dora) {
    const { magnitude, shape, ...rest } = spec.dora;
    m.dora = { ...rest, magnitude: { shape, data: magnitude } };
  }
  return m;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/** max |got - want| <= 1e-5 * max |want| (the f32 tolerance above). */
export function checkF32Close(got: Float32Array, want: ArrayLike<number>, what: string): void {
  const tol = 1e-5 * maxAbs(want);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i]! - want[i]!);
    if (!(e <= worst)) {
      worst = e;
      at = i;
    }
  }
  check(worst <= tol, `${what}: max abs error ${worst} at element ${at} exceeds the tolerance ${tol}`);
}

/** f16 bits as integers ordered like the values, so that ulp distance is a difference. */
const orderedF16 = (h: number) => (h & 0x8000 ? -(h & 0x7fff) : h);

/** Packed f16 words within 1 ulp of `want` rounded to f16, or within the f32 tolerance (above). */
export function checkF16Close(words: Uint32Array, want: ArrayLike<number>, what: string): void {
  const f32Tol = 1e-5 * maxAbs(want);
  const bad: string[] = [];
  for (let i = 0; i < want.length; i++) {
    const got = packedF16BitsAt(words, i);
    const ulps = Math.abs(orderedF16(got) - orderedF16(f32ToF16Bits(want[i]!)));
    if (ulps > 1 && !(Math.abs(f16BitsToF32(got) - want[i]!) <= f32Tol)) {
      bad.push(`#${i}: got ${f16BitsToF32(got)} (0x${got.toString(16)}), want ${want[i]} (${ulps} ulps)`);
    }
  }
  checkEqual(bad.slice(0, 5), [], `${what}: ${bad.length} elements beyond 1 f16 ulp`);
}

export interface MergeCase {
  dtype: WeightDtype;
  /** The target weight's shape. */
  shape: number[];
  terms: AdapterTerm[];
  /** Give the target a bias (needed when a term changes it). */
  bias?: boolean;
  seed: number;
}

function weightWordsOf(dtype: WeightDtype, values: Float32Array): Uint32Array {
  return dtype === 'f32' ? new Uint32Array(values.buffer.slice(0)) : packF16(values);
}

function valuesOf(dtype: WeightDtype, words: Uint32Array, count: number): Float32Array {
  if (dtype === 'f32') return new Float32Array(words.buffer, 0, count);
  return Float32Array.from({ length: count }, (_, i) => f16BitsToF32(packedF16BitsAt(words, i)));
}

/** Random W0 (and bias) in the case's dtype: f16 cases use f16-exact values for the oracle too. */
export function randomBase(c: MergeCase): BaseParams {
  const next = rng(c.seed);
  const round = (a: Float32Array) => (c.dtype === 'f16' ? a.map(roundToF16) : a);
  const base: BaseParams = { weight: { shape: c.shape, data: round(randomArray(numel(c.shape), 1, next)) } };
  if (c.bias) base.bias = { shape: [c.shape[0]!], data: round(randomArray(c.shape[0]!, 1, next)) };
  return base;
}

/** Runs the GPU merge of the case; returns W_eff (and b_eff) as words. */
export async function gpuMerge(
  device: GPUDevice,
  c: MergeCase,
  base: BaseParams,
): Promise<{ weight: Uint32Array; bias?: Uint32Array }> {
  const label = `test:${c.shape.join('x')}`;
  const w0Words = weightWordsOf(c.dtype, base.weight.data);
  const w0 = createStorageBuffer(device, { label: `${label}:w0`, data: w0Words });
  const wEff = createStorageBuffer(device, { label: `${label}:w_eff`, byteLength: w0Words.byteLength });
  let bias: { b0: GPUBuffer; bEff: GPUBuffer; count: number } | undefined;
  if (base.bias) {
    const words = weightWordsOf(c.dtype, base.bias.data);
    bias = {
      b0: createStorageBuffer(device, { label: `${label}:b0`, data: words }),
      bEff: createStorageBuffer(device, { label: `${label}:b_eff`, byteLength: words.byteLength }),
      count: base.bias.data.length,
    };
  }
  await mergeModule(device, {
    module: label,
    dtype: c.dtype,
    weightShape: c.shape,
    w0,
    wEff,
    ...(bias ? { bias } : {}),
    terms: c.terms,
  });
  const weight = new Uint32Array(await readBuffer(device, wEff, w0Words.byteLength));
  const out: { weight: Uint32Array; bias?: Uint32Array } = { weight };
  if (bias) out.bias = new Uint32Array(await readBuffer(device, bias.bEff));
  for (const b of [w0, wEff, bias?.b0, bias?.bEff]) b?.destroy();
  return out;
}

/** Merges on the GPU and checks W_eff (and the bias) against `applyAdapters`. */
export async function checkMatchesOracle(device: GPUDevice, c: MergeCase): Promise<void> {
  const base = randomBase(c);
  const want = applyAdapters(base, c.terms);
  const got = await gpuMerge(device, c, base);
  const live = c.terms.filter((t) => t.coefficient !== 0);
  const changesBias = live.some(({ module: { factors: f } }) => f.bias ?? f.diffBias ?? f.bNorm);
  const checkOutput = (
    words: Uint32Array,
    w: Float32Array,
    b0: Float32Array,
    what: string,
    changed: boolean,
  ) => {
    let change = 0;
    for (let i = 0; i < w.length; i++) change = Math.max(change, Math.abs(w[i]! - b0[i]!));
    if (changed) checkAbove(change, 1e-2 * maxAbs(w), `${what}: the delta is too small to test`);
    if (c.dtype === 'f32') checkF32Close(valuesOf('f32', words, w.length), w, what);
    else checkF16Close(words, w, what);
  };
  checkOutput(got.weight, want.weight.data, base.weight.data, 'weight', live.length > 0);
  if (want.bias && base.bias) checkOutput(got.bias!, want.bias.data, base.bias.data, 'bias', !!changesBias);
}
