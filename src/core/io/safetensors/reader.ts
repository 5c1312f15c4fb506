/**
 * A safetensors file behind a ByteSource: `openSafetensors` reads the 8-byte length and the header
 * only (validated by `parseHeader`, exactly as for a file in memory); each tensor is then read on
 * demand as its own byte range.
 */
import { LorafuseError } from '../../../errors.ts';
import { toFloat32 } from './convert.ts';
import { dtypeSize } from './dtype.ts';
import { tensorInfo } from './file.ts';
import type { SafetensorsHeader, TensorInfo } from './header.ts';
import { headerLength, parseHeader } from './header.ts';
import type { ByteSource } from './sources.ts';

export interface SafetensorsReader {
  source: ByteSource;
  fileName: string;
  header: SafetensorsHeader;
  /** Tensor names in file order. */
  names(): string[];
  info(name: string): TensorInfo;
  /** The tensor's bytes (one ranged read). */
  readRaw(name: string): Promise<Uint8Array>;
  /** Bytes [begin, end) of one tensor, offsets relative to the tensor's first byte. */
  readBytes(name: string, begin: number, end: number): Promise<Uint8Array>;
  /** The tensor converted to float32 (a fresh array). */
  readFloat32(name: string): Promise<Float32Array>;
}

export function elementCount(info: TensorInfo): number {
  return (info.end - info.begin) / dtypeSize(info.dtype);
}

export async function openSafetensors(source: ByteSource): Promise<SafetensorsReader> {
  const fileName = source.name;
  const size = await source.size();
  // 9 bytes: the length plus the header's first byte, which tells a checkpoint's magic from a length
  const prefix = await source.read(0, Math.min(size, 9));
  const n = headerLength(prefix, size, fileName);
  const head = new Uint8Array(8 + n);
  head.set(prefix.subarray(0, 8));
  head.set(await source.read(8, 8 + n), 8);
  const header = parseHeader(head, size, fileName);

  const readBytes = async (name: string, begin: number, end: number): Promise<Uint8Array> => {
    const t = tensorInfo(header, name, fileName);
    const len = t.end - t.begin;
    if (
      !(Number.isSafeInteger(begin) && Number.isSafeInteger(end) && 0 <= begin && begin <= end && end <= len)
    ) {
      throw new LorafuseError(
        'invalid-argument',
        `${fileName}: tensor '${name}' has ${len} bytes; cannot read [${begin}, ${end})`,
        { file: fileName, tensor: name, begin, end },
      );
    }
    const at = header.dataOffset + t.begin;
    return source.read(at + begin, at + end);
  };
  const readRaw = async (name: string) => {
    const t = tensorInfo(header, name, fileName);
    return readBytes(name, 0, t.end - t.begin);
  };
  return {
    source,
    fileName,
    header,
    names: () => [...header.tensors.keys()],
    info: (name) => tensorInfo(header, name, fileName),
    readRaw,
    readBytes,
    readFloat32: async (name) => toFloat32(await readRaw(name), tensorInfo(header, name, fileName).dtype),
  };
}
