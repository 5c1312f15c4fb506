/**
 * Shared builders for the lora-math tests: a seeded generator, tensors and canonical modules.
 * The expected values in the tests are computed with the naive index formulas written here and
 * in each test, independently of src/core/lora/math.
 */
import type { AdapterKind, AdapterModule, DoraSpec, F32Tensor } from '../../src/core/lora/adapter.ts';

/** mulberry32: small, seeded, good enough for test data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function rand(shape: number[], next: () => number, amp = 1): F32Tensor {
  const data = new Float32Array(size(shape));
  for (let i = 0; i < data.length; i++) data[i] = (next() * 2 - 1) * amp;
  return { shape, data };
}

export function t(shape: number[], values: number[]): F32Tensor {
  if (values.length !== size(shape)) throw new Error('bad test tensor');
  return { shape, data: Float32Array.from(values) };
}

export function filled(shape: number[], value: number): F32Tensor {
  return { shape, data: new Float32Array(size(shape)).fill(value) };
}

export function mod(
  kind: AdapterKind,
  factors: Record<string, F32Tensor>,
  rank: number,
  alpha: number,
  extra: { dora?: DoraSpec; module?: string; sourceKeys?: string[] } = {},
): AdapterModule {
  const m: AdapterModule = {
    component: 'unet',
    module: extra.module ?? 'down_blocks.0.attentions.0.proj_in',
    kind,
    factors,
    alpha,
    rank,
    format: 'kohya',
    sourceKeys: extra.sourceKeys ?? Object.keys(factors).map((f) => `lora_unet_x.${f}`),
  };
  if (extra.dora) m.dora = extra.dora;
  return m;
}

/** Max |a - b| over two equally long arrays; throws on a length mismatch. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/** Naive C = A[m,k]·B[k,n] in float64 (the independent reference). */
export function naiveMatmul(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  m: number,
  k: number,
  n: number,
): number[] {
  const c = new Array<number>(m * n).fill(0);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[i * k + p]! * b[p * n + j]!;
      c[i * n + j] = s;
    }
  return c;
}
