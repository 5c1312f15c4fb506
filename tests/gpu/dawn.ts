/**
 * A WebGPU device in Node through npm `webgpu` (Dawn). vitest.gpu.config.ts points Dawn at
 * SwiftShader where no GPU exists. A missing adapter is a failure with a fix, never a skip.
 */
import { create, globals } from 'webgpu';

let cached: Promise<GPUDevice> | undefined;

export function nodeGpu(): GPU {
  Object.assign(globalThis, globals);
  return create([]) as unknown as GPU;
}

export function getTestDevice(): Promise<GPUDevice> {
  cached ??= (async () => {
    const gpu = nodeGpu();
    const adapter = await gpu.requestAdapter();
    if (!adapter) {
      throw new Error(
        'Dawn found no WebGPU adapter. Check VK_ICD_FILENAMES / LD_LIBRARY_PATH (set by ' +
          'vitest.gpu.config.ts from scripts/swiftshader.ts) and that `npm ci` installed @sparticuz/chromium.',
      );
    }
    return adapter.requestDevice({
      requiredLimits: {
        maxBufferSize: adapter.limits.maxBufferSize,
        maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      },
    });
  })();
  return cached;
}

/** Copies a GPU buffer back to the CPU (the buffer needs COPY_SRC). */
export async function readBuffer(
  device: GPUDevice,
  src: GPUBuffer,
  byteLength = src.size,
): Promise<ArrayBuffer> {
  const staging = device.createBuffer({
    label: 'test-readback',
    size: byteLength,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const enc = device.createCommandEncoder({ label: 'test-readback' });
  enc.copyBufferToBuffer(src, 0, staging, 0, byteLength);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = staging.getMappedRange().slice(0);
  staging.unmap();
  staging.destroy();
  return out;
}
