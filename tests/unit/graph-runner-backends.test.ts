/**
 * The runner's backend rules that need no GPU (Node, wasm): GPU buffers only on 'webgpu' sessions,
 * the 16-byte padding ORT's WebGPU kernels need, and how our device is handed to ORT. The WebGPU
 * path itself runs in Chromium: tests/e2e/numeric-webgpu.test.ts.
 */
import * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/core/graph/dsl/builder.ts';
import { linear } from '../../src/core/graph/nets/layers.ts';
import { adapterFor, shareDeviceWithOrt } from '../../src/core/graph/runner/ort-device.ts';
import {
  DEFAULT_OPTIMIZATION,
  downloadOutput,
  NetworkSession,
  ORT_BUFFER_ALIGNMENT,
  ortBufferSize,
} from '../../src/core/graph/runner/session.ts';
import { LorafuseError } from '../../src/errors.ts';

ort.env.wasm.numThreads = 1;

function tinyLinear() {
  const g = new GraphBuilder('tiny');
  const x = g.input('x', 'float32', ['batch', 3]);
  g.output(
    g.scope('lin', () => linear(g, x, 'proj', 3, 2)),
    'y',
  );
  return g.finish();
}

/** Stands in for a GPUBuffer where only size/usage are read (no GPU in these tests). */
const fakeBuffer = (size: number) => ({ size, usage: 0x80, label: 'fake' }) as unknown as GPUBuffer;

describe('NetworkSession backends', () => {
  it("is 'wasm' by default and refuses GPU buffers there, with the reason", async () => {
    const s = await NetworkSession.create(tinyLinear());
    expect(s.backend).toBe('wasm');
    expect(s.device).toBeNull();
    const err = (() => {
      try {
        s.setWeightBuffer('lin.proj.weight', fakeBuffer(32));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(LorafuseError);
    expect((err as LorafuseError).code).toBe('invalid-argument');
    expect((err as LorafuseError).message).toMatch(/needs a 'webgpu' session/);
    const gpuTensor = ort.Tensor.fromGpuBuffer(fakeBuffer(32), { dataType: 'float32', dims: [2, 3] });
    expect(() => s.setWeight('lin.proj.weight', gpuTensor)).toThrow(
      /is a GPU buffer, but this session runs on 'wasm'/,
    );
    await s.release();
  });

  it('downloadOutput returns CPU outputs as they are', async () => {
    const s = await NetworkSession.create(tinyLinear());
    s.setWeight('lin.proj.weight', new ort.Tensor('float32', Float32Array.of(1, 0, 0, 0, 1, 0), [2, 3]));
    s.setWeight('lin.proj.bias', new ort.Tensor('float32', Float32Array.of(0.5, -0.5), [2]));
    const out = await s.run({ x: new ort.Tensor('float32', Float32Array.of(1, 2, 3), [1, 3]) });
    expect(Array.from(await downloadOutput(out.y!))).toEqual([1.5, 1.5]);
    await s.release();
  });

  it("keeps ORT's full graph optimisation on both backends (placements checked in the browser test)", () => {
    expect(DEFAULT_OPTIMIZATION).toEqual({ wasm: 'all', webgpu: 'all' });
  });
});

describe('ortBufferSize', () => {
  it('rounds up to 16 bytes, at least 16', () => {
    expect(ORT_BUFFER_ALIGNMENT).toBe(16);
    expect([0, 4, 12, 16, 17, 148, 160].map(ortBufferSize)).toEqual([16, 16, 16, 16, 32, 160, 160]);
  });
});

describe('handing our GPUDevice to onnxruntime-web', () => {
  const fakeDevice = (label: string) =>
    ({
      label,
      features: new Set(['shader-f16']),
      limits: { maxBufferSize: 1 << 30 },
      adapterInfo: { vendor: 'v', architecture: 'a', device: '', description: 'd' },
    }) as unknown as GPUDevice;

  it('gives ORT an adapter that answers requestDevice() with our device and shows its features and limits', async () => {
    const device = fakeDevice('ours');
    const adapter = adapterFor(device);
    expect(await adapter.requestDevice()).toBe(device);
    expect(adapter.features).toBe(device.features);
    expect(adapter.limits).toBe(device.limits);
    expect(adapter.info.vendor).toBe('v');
  });

  it('sets ort.env.webgpu once; a second, different device is refused', () => {
    const device = fakeDevice('first');
    shareDeviceWithOrt(device);
    shareDeviceWithOrt(device);
    const webgpu = ort.env.webgpu as unknown as { adapter: GPUAdapter; device: unknown };
    expect(webgpu.device).toBe(device);
    expect(() => shareDeviceWithOrt(fakeDevice('second'))).toThrow(/cannot switch devices/);
  });
});
