/** probeWebGpu / createDevice against fake `navigator.gpu` objects (no GPU needed). */
import { describe, expect, it } from 'vitest';
import {
  createDevice,
  deviceLostError,
  NO_WEBGPU_REASON,
  probeWebGpu,
  uncapturedGpuError,
} from '../../src/core/gpu/device.ts';

/** Limits as browsers expose them: getters on the prototype, no own keys. */
class FakeLimits {
  get maxBufferSize() {
    return 4 * 2 ** 30;
  }
  get maxStorageBufferBindingSize() {
    return 2 ** 31;
  }
  get maxComputeWorkgroupStorageSize() {
    return 32768;
  }
}

interface Requested {
  requiredLimits?: Record<string, number>;
  requiredFeatures?: string[];
}

function fakeGpu(features: string[], requested: Requested[] = []): GPU {
  const device = {
    lost: new Promise(() => {}),
    addEventListener: () => {},
  };
  const adapter = {
    features: new Set(features),
    limits: new FakeLimits(),
    info: { vendor: 'acme', architecture: 'rdna9', device: 'x1', description: 'Acme X1' },
    requestDevice: async (d: Requested) => {
      requested.push(d);
      return device;
    },
  };
  return { requestAdapter: async () => adapter } as unknown as GPU;
}

describe('probeWebGpu', () => {
  it('explains a missing navigator.gpu with browsers and flags', async () => {
    const s = await probeWebGpu(undefined);
    expect(s).toEqual({ available: false, reason: NO_WEBGPU_REASON });
    expect(NO_WEBGPU_REASON).toMatch(/navigator\.gpu/);
    expect(NO_WEBGPU_REASON).toMatch(/Chrome/);
    expect(NO_WEBGPU_REASON).toMatch(/enable-unsafe-webgpu/);
  });

  it('explains a null adapter and a throwing requestAdapter', async () => {
    const none = await probeWebGpu({ requestAdapter: async () => null } as unknown as GPU);
    expect(none.available).toBe(false);
    if (!none.available) expect(none.reason).toMatch(/no GPU adapter/);
    const boom = await probeWebGpu({
      requestAdapter: async () => {
        throw new Error('GPU process gone');
      },
    } as unknown as GPU);
    expect(boom.available).toBe(false);
    if (!boom.available) expect(boom.reason).toMatch(/GPU process gone/);
  });

  it('reports adapter info, sorted features, limits from prototype getters and shader-f16', async () => {
    const s = await probeWebGpu(fakeGpu(['timestamp-query', 'shader-f16']));
    expect(s).toEqual({
      available: true,
      adapter: { vendor: 'acme', architecture: 'rdna9', device: 'x1', description: 'Acme X1' },
      features: ['shader-f16', 'timestamp-query'],
      limits: {
        maxBufferSize: 4 * 2 ** 30,
        maxStorageBufferBindingSize: 2 ** 31,
        maxComputeWorkgroupStorageSize: 32768,
      },
      shaderF16: true,
    });
  });
});

describe('createDevice', () => {
  it('is webgpu-unavailable without navigator.gpu or an adapter', async () => {
    await expect(createDevice(undefined)).rejects.toMatchObject({ code: 'webgpu-unavailable' });
    await expect(createDevice({ requestAdapter: async () => null } as unknown as GPU)).rejects.toMatchObject({
      code: 'webgpu-unavailable',
    });
  });

  it("requests the adapter's limits and shader-f16 unless told not to", async () => {
    const requested: Requested[] = [];
    const gpu = fakeGpu(['shader-f16'], requested);
    const { status } = await createDevice(gpu);
    expect(requested[0]!.requiredLimits).toEqual({
      maxBufferSize: 4 * 2 ** 30,
      maxStorageBufferBindingSize: 2 ** 31,
      maxComputeWorkgroupStorageSize: 32768,
    });
    expect(requested[0]!.requiredFeatures).toEqual(['shader-f16']);
    expect(status.shaderF16).toBe(true);
    const off = await createDevice(gpu, { preferF16: false });
    expect(requested[1]!.requiredFeatures).toEqual([]);
    expect(off.status.shaderF16).toBe(false);
  });
});

describe('device errors', () => {
  it('a loss is device-lost with what to do; a destroy is not an error', () => {
    const err = deviceLostError('main', { reason: 'unknown', message: 'TDR' } as GPUDeviceLostInfo);
    expect(err).toMatchObject({ code: 'device-lost', details: { label: 'main', reason: 'unknown' } });
    expect(err!.message).toMatch(/Reload/);
    expect(deviceLostError('main', { reason: 'destroyed', message: '' } as GPUDeviceLostInfo)).toBeNull();
  });

  it('an uncaptured out-of-memory error is out-of-memory, others keep the GPU message', () => {
    class GPUOutOfMemoryError {
      message = 'Buffer "unet.conv_in:w_eff" too big';
    }
    class GPUValidationError {
      message = 'Invalid [Buffer "merge-lora:unet.x:params"]';
    }
    expect(uncapturedGpuError('main', new GPUOutOfMemoryError() as GPUError)).toMatchObject({
      code: 'out-of-memory',
    });
    const v = uncapturedGpuError('main', new GPUValidationError() as GPUError);
    expect(v.code).toBe('internal');
    expect(v.message).toContain('merge-lora:unet.x:params');
  });
});
