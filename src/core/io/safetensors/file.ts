/** A whole safetensors file held in memory: validated header plus views of the tensors' bytes. */
import { LorafuseError } from '../../../errors.ts';
import { toFloat32 } from './convert.ts';
import type { SafetensorsHeader, TensorInfo } from './header.ts';
import { parseHeader } from './header.ts';

export interface SafetensorsFile {
  fileName: string;
  header: SafetensorsHeader;
  /** Tensor names in file order. */
  names(): string[];
  info(name: string): TensorInfo;
  /** The tensor's bytes: a view into the file, not a copy. */
  raw(name: string): Uint8Array;
  /** The tensor converted to float32: always a fresh array. */
  float32(name: string): Float32Array;
}

/** Looks a tensor up, failing with the names that exist. */
export function tensorInfo(header: SafetensorsHeader, name: string, fileName: string): TensorInfo {
  const info = header.tensors.get(name);
  if (!info) {
    const some = [...header.tensors.keys()].slice(0, 5).join(', ');
    throw new LorafuseError(
      'invalid-argument',
      `${fileName}: no tensor '${name}' in this file (it has ${header.tensors.size}: ${some}${header.tensors.size > 5 ? ', ...' : ''})`,
      { file: fileName, tensor: name },
    );
  }
  return info;
}

export function readSafetensors(bytes: Uint8Array, fileName: string): SafetensorsFile {
  const header = parseHeader(bytes, bytes.byteLength, fileName);
  const raw = (name: string): Uint8Array => {
    const t = tensorInfo(header, name, fileName);
    return bytes.subarray(header.dataOffset + t.begin, header.dataOffset + t.end);
  };
  return {
    fileName,
    header,
    names: () => [...header.tensors.keys()],
    info: (name) => tensorInfo(header, name, fileName),
    raw,
    float32: (name) => toFloat32(raw(name), tensorInfo(header, name, fileName).dtype),
  };
}
