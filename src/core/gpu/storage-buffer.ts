/**
 * Storage buffers for kernels: sized to whole u32 words (at least one, since WebGPU refuses
 * empty bindings), labelled, optionally filled at creation.
 */

export interface StorageBufferOptions {
  label: string;
  /** Contents; its byte length sets the size unless `byteLength` is given. */
  data?: ArrayBufferView;
  byteLength?: number;
  /** Usage beyond STORAGE | COPY_SRC | COPY_DST. */
  usage?: GPUBufferUsageFlags;
}

const WORD = 4;

export function storageByteSize(byteLength: number): number {
  return Math.max(WORD, Math.ceil(byteLength / WORD) * WORD);
}

export function createStorageBuffer(device: GPUDevice, options: StorageBufferOptions): GPUBuffer {
  const { data } = options;
  const size = storageByteSize(options.byteLength ?? data?.byteLength ?? 0);
  const buffer = device.createBuffer({
    label: options.label,
    size,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST | (options.usage ?? 0),
    mappedAtCreation: data !== undefined,
  });
  if (data) {
    new Uint8Array(buffer.getMappedRange()).set(
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    );
    buffer.unmap();
  }
  return buffer;
}
