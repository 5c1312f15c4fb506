/**
 * Every CPU merge backend (scalar, ort-wasm, wasm-simd with 1 and 2 threads) against an
 * independent float64 triple loop written here: out = W0 + U·D on odd shapes (1x1, 7x13 rank 3,
 * 320x768 rank 64, flattened convs), in place, rank 0, batches of mixed shapes, bad arguments.
 *
 * Tolerance: max |out - ref| <= 1e-5 · max |ref|. Data are uniform in [-1, 1]; a float32 sum of
 * R <= 64 rank terms starting from W0 rounds at most R times by 2^-24 of a partial sum bounded by
 * |W0| + Σ|u·d|, and with random signs the typical error is about sqrt(R)·2^-24·max|ref| ≈ 5e-7
 * of max|ref|: 1e-5 leaves a 20x margin yet fails at once on a wrong index, row or panel.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attentionProjections } from '../../src/core/lora/merge-fast/attention-projections.ts';
import { createMergeBackend } from '../../src/core/lora/merge-fast/create-backend.ts';
import type { MergeBackend, MergeJob, MergeShape } from '../../src/core/lora/merge-fast/merge-backend.ts';
import { mergeFlops } from '../../src/core/lora/merge-fast/merge-backend.ts';
import { createOrtWasmBackend } from '../../src/core/lora/merge-fast/ort-wasm.ts';
import { createScalarBackend } from '../../src/core/lora/merge-fast/scalar.ts';
import { createWasmSimdBackend, wasmSimdSupported } from '../../src/core/lora/merge-fast/wasm-simd.ts';
import { LorafuseError } from '../../src/errors.ts';
import { rng } from './lora-math-helpers.ts';

function uniform(n: number, next: () => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = next() * 2 - 1;
  return a;
}

interface Case {
  name: string;
  shape: MergeShape;
}

const CASES: Case[] = [
  { name: '1x1 rank 1', shape: { out: 1, in: 1, rank: 1 } },
  { name: '7x13 rank 3', shape: { out: 7, in: 13, rank: 3 } },
  { name: '320x768 rank 64', shape: { out: 320, in: 768, rank: 64 } },
  { name: 'conv [16,8,3,3] flattened, rank 4', shape: { out: 16, in: 8 * 3 * 3, rank: 4 } },
  { name: 'conv [37,5,3,3] flattened, rank 6', shape: { out: 37, in: 5 * 3 * 3, rank: 6 } },
  { name: '1x1 conv [321,17,1,1], rank 9', shape: { out: 321, in: 17, rank: 9 } },
];

function makeJob(shape: MergeShape, seed: number): MergeJob {
  const next = rng(seed);
  return {
    w0: uniform(shape.out * shape.in, next),
    out: new Float32Array(shape.out * shape.in),
    u: uniform(shape.out * shape.rank, next),
    d: uniform(shape.rank * shape.in, next),
    shape,
  };
}

const references = new Map<MergeJob, Float32Array>();

/** W0 + U·D in float64, rounded once (computed once per job and cached across backends). */
function reference(job: MergeJob): Float32Array {
  const known = references.get(job);
  if (known) return known;
  const { out: m, in: n, rank: r } = job.shape;
  const ref = new Float32Array(m * n);
  const row = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) row[j] = job.w0[i * n + j]!;
    for (let p = 0; p < r; p++) {
      const u = job.u[i * r + p]!;
      for (let j = 0; j < n; j++) row[j]! += u * job.d[p * n + j]!;
    }
    ref.set(row, i * n);
  }
  references.set(job, ref);
  return ref;
}

/** One job per case, shared by every backend (W0, U and D are never written by the cases). */
const CASE_JOBS = new Map<Case, MergeJob>(
  CASES.map((c) => [c, makeJob(c.shape, c.shape.out * 1000 + c.shape.in)]),
);

function expectClose(got: Float32Array, want: Float32Array): void {
  expect(got.length).toBe(want.length);
  let maxRef = 0;
  let maxErr = 0;
  for (let i = 0; i < want.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(want[i]!));
    maxErr = Math.max(maxErr, Math.abs(got[i]! - want[i]!));
  }
  expect(Number.isFinite(maxErr)).toBe(true);
  expect(maxErr).toBeLessThanOrEqual(1e-5 * maxRef);
}

const FACTORIES: [string, () => Promise<MergeBackend>][] = [
  ['scalar', async () => createScalarBackend()],
  ['ort-wasm (1 thread)', () => createOrtWasmBackend({ numThreads: 1 })],
  ['wasm-simd (1 thread)', () => createWasmSimdBackend({ threads: 1, fma: false })],
  ['wasm-simd (2 threads)', () => createWasmSimdBackend({ threads: 2, fma: false })],
  ['wasm-simd (1 thread, mr 6)', () => createWasmSimdBackend({ threads: 1, mr: 6, fma: false })],
];

describe.each(FACTORIES)('%s backend', (_name, factory) => {
  let backend: MergeBackend;
  beforeAll(async () => {
    backend = await factory();
  });
  afterAll(async () => {
    await backend.dispose();
  });

  it.each(CASES)('$name matches the float64 reference', async (c) => {
    const job = CASE_JOBS.get(c)!;
    const w0Before = job.w0.slice();
    const out = new Float32Array(job.out.length).fill(Number.NaN);
    await backend.mergeInto(job.w0, out, job.u, job.d, job.shape);
    expectClose(out, reference(job));
    expect(job.w0).toEqual(w0Before);
  });

  it('merges in place (out = W0) and copies W0 at rank 0', async () => {
    const job = makeJob({ out: 9, in: 21, rank: 5 }, 7);
    const want = reference(job);
    await backend.mergeInto(job.w0, job.w0, job.u, job.d, job.shape);
    expectClose(job.w0, want);
    const zero = makeJob({ out: 4, in: 6, rank: 0 }, 8);
    await backend.mergeInto(zero.w0, zero.out, zero.u, zero.d, zero.shape);
    expect(zero.out).toEqual(zero.w0);
  });

  it('merges a batch of mixed shapes, big then small (no stale padding leaks in)', async () => {
    const jobs = [
      makeJob({ out: 64, in: 200, rank: 16 }, 11),
      makeJob({ out: 5, in: 3, rank: 2 }, 12),
      makeJob({ out: 33, in: 40, rank: 7 }, 13),
    ];
    await backend.mergeMany(jobs);
    for (const j of jobs) expectClose(j.out, reference(j));
  });

  it('merges a batch larger than one 32 MB layout group', async () => {
    const jobs = [0, 1, 2].map((k) => makeJob({ out: 1501, in: 3001, rank: 2 }, 20 + k));
    await backend.mergeMany(jobs);
    for (const j of jobs) expectClose(j.out, reference(j));
  });

  it('refuses arrays that do not fit the shape, naming the array', async () => {
    const job = makeJob({ out: 4, in: 5, rank: 2 }, 14);
    const err = await backend.mergeInto(job.w0, job.out, job.u.subarray(1), job.d, job.shape).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LorafuseError);
    expect((err as LorafuseError).code).toBe('invalid-argument');
    expect((err as LorafuseError).message).toMatch(/U holds 7 values .* needs 8/);
    const overlap = await backend
      .mergeInto(job.w0, job.u as Float32Array, job.u, job.d, { out: 2, in: 4, rank: 2 })
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(overlap).toBeInstanceOf(LorafuseError);
  });
});

describe('wasm-simd with relaxed SIMD (fused multiply-add)', () => {
  it('is correct where the engine has it, and a not-implemented error where it has not', async () => {
    const job = makeJob({ out: 320, in: 768, rank: 64 }, 99);
    if (wasmSimdSupported({ fma: true })) {
      const b = await createWasmSimdBackend({ threads: 2, fma: true });
      expect(b.fma).toBe(true);
      await b.mergeInto(job.w0, job.out, job.u, job.d, job.shape);
      await b.dispose();
      expectClose(job.out, reference(job));
    } else {
      const err = await createWasmSimdBackend({ fma: true }).then(
        () => null,
        (e: unknown) => e,
      );
      expect((err as LorafuseError).code).toBe('not-implemented');
    }
  });
});

describe('createMergeBackend', () => {
  it('picks the wasm-simd kernel where WebAssembly SIMD validates (Node), and honours kind', async () => {
    expect(wasmSimdSupported()).toBe(true);
    const auto = await createMergeBackend({ threads: 2 });
    expect(auto.name).toBe('wasm-simd');
    expect((auto as { threads?: number }).threads).toBe(2);
    await auto.dispose();
    const scalar = await createMergeBackend({ kind: 'scalar' });
    expect(scalar.name).toBe('scalar');
  });
});

describe('attentionProjections', () => {
  it('lists the 128 attention projections of full-size SD1.5 with their shapes', async () => {
    const { readFileSync } = await import('node:fs');
    const { parseUNetConfig } = await import('../../src/core/graph/config/unet-config.ts');
    const { unetInventory } = await import('../../src/core/graph/config/unet-inventory.ts');
    const cfg = parseUNetConfig(
      JSON.parse(readFileSync('tests/fixtures/configs/sd15/unet/config.json', 'utf8')),
    );
    const p = attentionProjections(unetInventory(cfg));
    expect(p).toHaveLength(128);
    // 16 transformer blocks x (attn1 q,k,v,out + attn2 q,k,v,out); channels 320/640/1280, text 768.
    const count = (o: number, i: number) => p.filter((m) => m.out === o && m.in === i).length;
    expect(count(320, 320)).toBe(5 * 6);
    expect(count(320, 768)).toBe(5 * 2);
    expect(count(640, 640)).toBe(5 * 6);
    expect(count(640, 768)).toBe(5 * 2);
    expect(count(1280, 1280)).toBe(6 * 6);
    expect(count(1280, 768)).toBe(6 * 2);
    expect(p.map((m) => m.path)).toContain('mid_block.attentions.0.transformer_blocks.0.attn2.to_out.0');
    const flops = p.reduce((s, m) => s + mergeFlops({ out: m.out, in: m.in, rank: 64 }), 0);
    expect(flops).toBeGreaterThan(11.9e9);
  });
});
