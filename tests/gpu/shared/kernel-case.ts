/**
 * The shape of a kernel check shared by Node and the browser: a named case that runs on a given
 * `GPUDevice` and throws when the kernel disagrees with its oracle. tests/gpu/*.test.ts register
 * each case as a vitest test on Dawn's device (register-suites.ts); tests/browser/kernels-page.ts
 * runs the same cases on `navigator.gpu`'s device in Chromium.
 */

export interface KernelCase {
  name: string;
  run(device: GPUDevice): Promise<void>;
}

export interface KernelSuite {
  /** A describe-block name, unique among the suites. */
  name: string;
  cases: KernelCase[];
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
