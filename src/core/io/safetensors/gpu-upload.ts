/**
 * Streams tensors from a safetensors reader into GPUBuffers, one tensor and one chunk at a time
 * (read, convert, `queue.writeBuffer`), so a file is never whole in JS memory.
 *
 * - `f32`: every dtype is converted to float32 (F32 bytes go up untouched).
 * - `f16-packed`: IEEE halves, two per u32 word (element 2i in the low 16 bits, as WGSL's
 *   `unpack2x16float` reads them); F16 bytes go up untouched, others are rounded to nearest even.
 * Buffer sizes are multiples of 4 (an odd half count gets a zero pad) and at least 4, or of a
 * larger `alignment` (onnxruntime-web's 16 bytes) with a zero tail.
 */
import { LorafuseError } from '../../../errors.ts';
import { f32ToF16, toFloat32 } from './convert.ts';
import { dtypeSize } from './dtype.ts';
import type { TensorInfo } from './header.ts';
import type { SafetensorsReader } from './reader.ts';
import { elementCount } from './reader.ts';

export type UploadDtype = 'f32' | 'f16-packed';

export const DEFAULT_CHUNK_BYTES = 16 * 1024 * 1024;
/** Wait for the queue after this many staged bytes, bounding the driver's staging memory. */
const FLUSH_BYTES = 128 * 1024 * 1024;

export interface UploadOptions {
  dtype?: UploadDtype;
  label?: string;
  /** Defaults to STORAGE | COPY_SRC | COPY_DST. */
  usage?: number;
  /** Buffer sizes are rounded up to a multiple of this (default 4); the tail stays zero. */
  alignment?: number;
  /** Source bytes read per chunk (default 16 MiB). */
  chunkBytes?: number;
  /** Called after each chunk with the tensor's source bytes done so far. */
  onChunk?: (bytesDone: number) => void;
}

/** Size in bytes of the GPU buffer holding `count` elements as `dtype`, a multiple of `alignment`. */
export function uploadedByteSize(count: number, dtype: UploadDtype, alignment = 4): number {
  const bytes = dtype === 'f32' ? count * 4 : Math.ceil(count / 2) * 4;
  return Math.max(alignment, Math.ceil(bytes / alignment) * alignment);
}

/** Chunk data ready for writeBuffer: a Uint8Array whose length is a multiple of 4. */
function convertChunk(bytes: Uint8Array, info: TensorInfo, dtype: UploadDtype): Uint8Array {
  let out: Uint8Array;
  if (dtype === 'f32') {
    if (info.dtype === 'F32') return bytes;
    const f = toFloat32(bytes, info.dtype);
    return new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
  }
  if (info.dtype === 'F16') out = bytes;
  else {
    const h = f32ToF16(toFloat32(bytes, info.dtype));
    out = new Uint8Array(h.buffer, h.byteOffset, h.byteLength);
  }
  if (out.byteLength % 4 === 0) return out;
  const padded = new Uint8Array(out.byteLength + 2);
  padded.set(out);
  return padded;
}

function createBufferChecked(device: GPUDevice, desc: GPUBufferDescriptor, file: string, tensor: string) {
  if (desc.size > device.limits.maxBufferSize) {
    throw new LorafuseError(
      'out-of-memory',
      `${file}: tensor '${tensor}' needs a ${desc.size}-byte buffer, over this device's maxBufferSize ` +
        `(${device.limits.maxBufferSize}). Use 'f16-packed' weights or a device with larger limits.`,
      { file, tensor, size: desc.size, maxBufferSize: device.limits.maxBufferSize },
    );
  }
  device.pushErrorScope('out-of-memory');
  const buffer = device.createBuffer(desc);
  return device.popErrorScope().then((err) => {
    if (!err) return buffer;
    buffer.destroy();
    throw new LorafuseError(
      'out-of-memory',
      `${file}: out of GPU memory allocating ${desc.size} bytes for tensor '${tensor}' (${err.message}). ` +
        'Close other GPU tabs, use a smaller model or f16 weights.',
      { file, tensor, size: desc.size },
    );
  });
}

/** Uploads one tensor into a new GPUBuffer labelled with its name (or `label`). */
export async function uploadTensor(
  device: GPUDevice,
  reader: SafetensorsReader,
  name: string,
  opts: UploadOptions = {},
): Promise<GPUBuffer> {
  const dtype = opts.dtype ?? 'f32';
  const info = reader.info(name);
  const count = elementCount(info);
  const srcSize = dtypeSize(info.dtype);
  const outSize = dtype === 'f32' ? 4 : 2;
  // an even element count per chunk keeps every f16 chunk on a 4-byte boundary
  const perChunk = Math.max(2, Math.floor((opts.chunkBytes ?? DEFAULT_CHUNK_BYTES) / srcSize / 2) * 2);
  const buffer = await createBufferChecked(
    device,
    {
      label: opts.label ?? name,
      size: uploadedByteSize(count, dtype, opts.alignment),
      usage: opts.usage ?? GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    },
    reader.fileName,
    name,
  );
  try {
    let staged = 0;
    for (let e0 = 0; e0 < count; e0 += perChunk) {
      const e1 = Math.min(count, e0 + perChunk);
      const bytes = await reader.readBytes(name, e0 * srcSize, e1 * srcSize);
      const data = convertChunk(bytes, info, dtype);
      device.queue.writeBuffer(buffer, e0 * outSize, data.buffer, data.byteOffset, data.byteLength);
      staged += data.byteLength;
      if (staged >= FLUSH_BYTES) {
        await device.queue.onSubmittedWorkDone();
        staged = 0;
      }
      opts.onChunk?.(e1 * srcSize);
    }
  } catch (e) {
    buffer.destroy();
    throw e;
  }
  return buffer;
}

export interface UploadProgress {
  tensor: string;
  /** Index of the tensor among those selected, and how many there are. */
  index: number;
  count: number;
  /** Source bytes uploaded so far, over all selected tensors. */
  bytesDone: number;
  bytesTotal: number;
}

export interface UploadAllOptions {
  filter?: (info: TensorInfo) => boolean;
  onProgress?: (p: UploadProgress) => void;
  /** One dtype for all, or chosen per tensor. */
  dtype?: UploadDtype | ((info: TensorInfo) => UploadDtype);
  usage?: number;
  alignment?: number;
  chunkBytes?: number;
}

/**
 * Uploads every (selected) tensor, one at a time. On failure the buffers already made are
 * destroyed and the error is rethrown: nothing is half-loaded.
 */
export async function uploadAll(
  device: GPUDevice,
  reader: SafetensorsReader,
  opts: UploadAllOptions = {},
): Promise<Map<string, GPUBuffer>> {
  const infos = reader.names().map((n) => reader.info(n));
  const selected = opts.filter ? infos.filter(opts.filter) : infos;
  const bytesTotal = selected.reduce((a, t) => a + t.end - t.begin, 0);
  const out = new Map<string, GPUBuffer>();
  let before = 0;
  try {
    for (const [index, info] of selected.entries()) {
      const report = (done: number) =>
        opts.onProgress?.({
          tensor: info.name,
          index,
          count: selected.length,
          bytesDone: before + done,
          bytesTotal,
        });
      const dtype = typeof opts.dtype === 'function' ? opts.dtype(info) : (opts.dtype ?? 'f32');
      const buffer = await uploadTensor(device, reader, info.name, {
        dtype,
        usage: opts.usage,
        alignment: opts.alignment,
        chunkBytes: opts.chunkBytes,
        onChunk: report,
      });
      out.set(info.name, buffer);
      before += info.end - info.begin;
      if (info.end === info.begin) report(0);
    }
  } catch (e) {
    for (const b of out.values()) b.destroy();
    throw e;
  }
  return out;
}
