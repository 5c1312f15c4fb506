/**
 * The engine's one WebGPU device per JS realm (engine/model-runtime.ts): shared by every model
 * opened on the same `navigator.gpu`, every listener hears of its loss, and once lost the next
 * open says the engine must restart. A scripted GPU stands in for the browser's.
 */
import { describe, expect, it } from 'vitest';
import { deviceFor } from '../../src/core/engine/model-runtime.ts';
import type { LorafuseError } from '../../src/errors.ts';

function scriptedGpu() {
  let loseDevice!: (info: GPUDeviceLostInfo) => void;
  let devicesMade = 0;
  const device = {
    lost: new Promise<GPUDeviceLostInfo>((r) => {
      loseDevice = r;
    }),
    addEventListener() {},
    features: new Set<string>(),
    limits: {},
  } as unknown as GPUDevice;
  const adapter = {
    features: new Set<string>(),
    limits: { maxBufferSize: 1024 },
    info: { vendor: 'test', architecture: '', device: '', description: 'scripted' },
    requestDevice: async () => {
      devicesMade++;
      return device;
    },
  };
  const gpu = { requestAdapter: async () => adapter } as unknown as GPU;
  return {
    gpu,
    device,
    made: () => devicesMade,
    lose: () => loseDevice({ reason: 'unknown', message: 'driver reset' } as GPUDeviceLostInfo),
  };
}

describe('the engine device', () => {
  it('is made once per GPU entry point; every listener hears of its loss; then opens refuse', async () => {
    const g = scriptedGpu();
    const heard: string[] = [];
    const a = await deviceFor(g.gpu, (e) => heard.push(`a:${e.code}`));
    const b = await deviceFor(g.gpu, (e) => heard.push(`b:${e.code}`));
    expect(a.device).toBe(g.device);
    expect(b.device).toBe(g.device);
    expect(g.made()).toBe(1);
    g.lose();
    await expect.poll(() => heard.length).toBe(2);
    expect(heard.sort()).toEqual(['a:device-lost', 'b:device-lost']);
    let refused: LorafuseError | undefined;
    try {
      await deviceFor(g.gpu, undefined);
    } catch (e) {
      refused = e as LorafuseError;
    }
    expect(refused?.code).toBe('device-lost');
    expect(refused?.message).toMatch(/driver reset.*Restart the engine/s);
    expect(g.made()).toBe(1);
  });
});
