/**
 * Reading weight buffers back to the CPU (float32): what the adapter manager's queries, saves and
 * exports need on the WebGPU path. Not for per-step work: each call waits for the queue.
 */
import { unpackF16 } from './f16.ts';
import { type WeightDtype, weightWords } from './weight-words.ts';

/** The first `bytes` bytes of `buffer` (COPY_SRC), copied through a mappable staging buffer. */
export async function readBufferBytes(
  device: GPUDevice,
  buffer: GPUBuffer,
  bytes: number,
): Promise<ArrayBuffer> {
  const size = Math.ceil(bytes / 4) * 4;
  const staging = device.createBuffer({
    label: `readback:${buffer.label}`,
    size: Math.max(4, size),
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  try {
    const encoder = device.createCommandEncoder({ label: `readback:${buffer.label}` });
    if (size > 0) encoder.copyBufferToBuffer(buffer, 0, staging, 0, size);
    device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ, 0, Math.max(4, size));
    return staging.getMappedRange(0, Math.max(4, size)).slice(0, bytes);
  } finally {
    staging.destroy();
  }
}

/** `count` values of a weight buffer stored as `dtype` (f32, or packed f16 words), as float32. */
export async function readWeightValues(
  device: GPUDevice,
  buffer: GPUBuffer,
  dtype: WeightDtype,
  count: number,
): Promise<Float32Array> {
  const bytes = await readBufferBytes(device, buffer, weightWords(dtype, count) * 4);
  return dtype === 'f32' ? new Float32Array(bytes) : unpackF16(new Uint32Array(bytes), count);
}
