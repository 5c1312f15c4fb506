/**
 * Writes a safetensors file in memory: the header JSON padded with spaces to a multiple of 8 (as
 * the Rust writer does), then the tensors' bytes in the given order.
 */
import { LorafuseError } from '../../../errors.ts';
import type { Dtype } from './dtype.ts';
import { dtypeSize, isDtype } from './dtype.ts';

export interface TensorToWrite {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Little-endian element bytes; byteLength must equal product(shape) * dtypeSize(dtype). */
  data: ArrayBufferView;
}

function bad(what: string, details: Record<string, unknown>): LorafuseError {
  return new LorafuseError('invalid-argument', `writeSafetensors: ${what}`, details);
}

export function writeSafetensors(
  tensors: TensorToWrite[],
  metadata?: Record<string, string>,
): Uint8Array<ArrayBuffer> {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw bad(`metadata '${k}' is a ${typeof v}, expected a string`, { key: k });
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const t of tensors) {
    if (t.name === '__metadata__' || Object.hasOwn(header, t.name)) {
      throw bad(`tensor name '${t.name}' is reserved or repeated`, { tensor: t.name });
    }
    if (!isDtype(t.dtype)) throw bad(`tensor '${t.name}': unknown dtype '${t.dtype}'`, { tensor: t.name });
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw bad(`tensor '${t.name}': shape [${t.shape}] is not non-negative integers`, { tensor: t.name });
    }
    const bytes = t.shape.reduce((a, d) => a * d, dtypeSize(t.dtype));
    if (t.data.byteLength !== bytes) {
      throw bad(
        `tensor '${t.name}': shape [${t.shape}] x ${t.dtype} needs ${bytes} bytes, data has ${t.data.byteLength}`,
        { tensor: t.name, expected: bytes, actual: t.data.byteLength },
      );
    }
    const entry = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    Object.defineProperty(header, t.name, { value: entry, enumerable: true }); // '__proto__' is a name too
    offset += bytes;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (json.length % 8)) % 8;
  if (pad > 0) {
    const padded = new Uint8Array(json.length + pad).fill(0x20);
    padded.set(json);
    json = padded;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of tensors) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}
