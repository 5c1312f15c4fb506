import { describe, expect, it, vi } from 'vitest';
import { declareKernel, launch, submitEncoders } from '../../src/core/gpu/kernel.ts';
import { pipelineCacheFor } from '../../src/core/gpu/pipeline-cache.ts';
import { createStorageBuffer } from '../../src/core/gpu/storage-buffer.ts';
import { LorafuseError } from '../../src/errors.ts';
import { getTestDevice, readBuffer, uncapturedErrors } from './dawn.ts';

const AXPY = `
struct Params {
  n: u32,
  a: f32,
}
override WG: u32;
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;        // [n]
@group(0) @binding(2) var<storage, read_write> y: array<f32>;  // [n]
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x < params.n) {
    y[g.x] = fma(params.a, x[g.x], y[g.x]);
  }
}
`;

const declare = (name: string, source: string) =>
  declareKernel({
    name,
    source,
    params: { n: 'u32', a: 'f32' },
    bindings: { x: 'read', y: 'read-write' },
    overrides: { WG: 64 },
    dtypes: { f32: {} },
    dispatch: (p, o) => [Math.ceil(p.n / o.WG)],
  });

describe('kernel declaration and launch', () => {
  it('launches a declared kernel with packed params; new overrides compile a new pipeline', async () => {
    const device = await getTestDevice();
    const kernel = declare('test-axpy', AXPY);
    const n = 1000;
    const x = Float32Array.from({ length: n }, (_, i) => i);
    const x0 = createStorageBuffer(device, { label: 'axpy-x', data: x });
    const y = createStorageBuffer(device, { label: 'axpy-y', data: new Float32Array(n).fill(1) });
    const cache = pipelineCacheFor(device);
    const before = cache.compiled;
    await launch(device, kernel, { module: 'm', dtype: 'f32', params: { n, a: 0.5 }, buffers: { x: x0, y } });
    await launch(device, kernel, {
      module: 'm',
      dtype: 'f32',
      params: { n: n - 1, a: 2 },
      buffers: { x: x0, y },
      overrides: { WG: 32 },
    });
    expect(cache.compiled - before).toBe(2);
    const got = new Float32Array(await readBuffer(device, y));
    const want = Float32Array.from(x, (v, i) => (i < n - 1 ? 1 + 0.5 * v + 2 * v : 1 + 0.5 * v));
    expect(got).toEqual(want);
  });

  it('a WGSL compile error is LorafuseError("gpu-kernel") naming the kernel and the line', async () => {
    const device = await getTestDevice();
    const broken = AXPY.replace('fma(params.a, x[g.x], y[g.x])', 'fma(params.n, x[g.x], y[g.x])');
    const kernel = declare('test-broken', broken);
    const x = createStorageBuffer(device, { label: 'broken-x', byteLength: 16 });
    const y = createStorageBuffer(device, { label: 'broken-y', byteLength: 16 });
    const err = await launch(device, kernel, {
      module: 'm',
      dtype: 'f32',
      params: { n: 4, a: 1 },
      buffers: { x, y },
    }).catch((e) => e);
    expect(err).toBeInstanceOf(LorafuseError);
    expect(err.code).toBe('gpu-kernel');
    expect(err.message).toContain('"test-broken"');
    const line = broken.split('\n').findIndex((l) => l.includes('params.n, x')) + 1;
    expect(err.message).toMatch(new RegExp(`line ${line}:\\d+`));
    expect(err.details.kernel).toBe('test-broken');
  });

  it('an unknown dtype is refused', async () => {
    const device = await getTestDevice();
    const kernel = declare('test-axpy', AXPY);
    const b = createStorageBuffer(device, { label: 'b', byteLength: 16 });
    await expect(
      launch(device, kernel, {
        module: 'm',
        dtype: 'f16' as 'f32',
        params: { n: 4, a: 1 },
        buffers: { x: b, y: b },
      }),
    ).rejects.toMatchObject({ code: 'invalid-argument' });
  });

  it('a buffer bound both for reading and for writing is refused', async () => {
    const device = await getTestDevice();
    const kernel = declare('test-axpy', AXPY);
    const b = createStorageBuffer(device, { label: 'b', byteLength: 16 });
    await expect(
      launch(device, kernel, { module: 'm', dtype: 'f32', params: { n: 4, a: 1 }, buffers: { x: b, y: b } }),
    ).rejects.toMatchObject({ code: 'invalid-argument', details: { written: 'y', read: 'x' } });
  });

  it('1,000 launches into caller encoders create a bounded number of params buffers, one per pending launch', async () => {
    const device = await getTestDevice();
    const kernel = declare('test-axpy', AXPY);
    const n = 8;
    const xs = Float32Array.from({ length: n }, (_, i) => i + 1);
    const x = createStorageBuffer(device, { label: 'pool-x', data: xs });
    const y = createStorageBuffer(device, { label: 'pool-y', data: new Float32Array(n) });
    const encoders = 100;
    const perEncoder = 10;
    const spy = vi.spyOn(device, 'createBuffer');
    let sumA = 0;
    try {
      for (let e = 0; e < encoders; e++) {
        const encoder = device.createCommandEncoder({ label: `pool-${e}` });
        for (let i = 0; i < perEncoder; i++) {
          // A distinct `a` per launch: two pending launches sharing a params buffer would change the sum.
          const a = e * perEncoder + i + 1;
          await launch(device, kernel, {
            module: 'm',
            dtype: 'f32',
            params: { n, a },
            buffers: { x, y },
            encoder,
          });
          sumA += a;
        }
        submitEncoders(device, [encoder]);
      }
      expect(spy.mock.calls.length).toBeLessThanOrEqual(perEncoder);
    } finally {
      spy.mockRestore();
    }
    // y = sum(a) * x: integers below 2^24, so float32 holds every partial sum exactly.
    expect(sumA).toBe((encoders * perEncoder * (encoders * perEncoder + 1)) / 2);
    const got = new Float32Array(await readBuffer(device, y));
    expect(Array.from(got)).toEqual(Array.from(xs, (v) => v * sumA));
  });

  it('launches that submit themselves reuse one params buffer', async () => {
    const device = await getTestDevice();
    const kernel = declare('test-axpy', AXPY);
    const x = createStorageBuffer(device, { label: 'self-x', data: Float32Array.of(1, 2, 3, 4) });
    const y = createStorageBuffer(device, { label: 'self-y', data: new Float32Array(4) });
    const spy = vi.spyOn(device, 'createBuffer');
    try {
      for (let a = 1; a <= 100; a++) {
        await launch(device, kernel, { module: 'm', dtype: 'f32', params: { n: 4, a }, buffers: { x, y } });
      }
      expect(spy.mock.calls.length).toBeLessThanOrEqual(1);
    } finally {
      spy.mockRestore();
    }
    const got = new Float32Array(await readBuffer(device, y));
    expect(Array.from(got)).toEqual([1, 2, 3, 4].map((v) => v * 5050));
  });

  it('left no uncaptured GPU error (compile errors were captured by the scope)', () => {
    expect(uncapturedErrors.map((e) => e.message)).toEqual([]);
  });
});
