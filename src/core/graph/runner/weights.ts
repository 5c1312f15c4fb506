/**
 * Weights for a network from a diffusers / transformers safetensors file: CPU tensors (wasm) or
 * GPU buffers we own (WebGPU).
 */
import * as ort from 'onnxruntime-web';
import { LorafuseError } from '../../../errors.ts';
import type { SafetensorsFile, SafetensorsReader } from '../../io/safetensors.ts';
import { uploadAll } from '../../io/safetensors.ts';
import type { GraphDef } from '../dsl/builder.ts';
import { ORT_BUFFER_ALIGNMENT, ortBufferSize } from './session.ts';

export interface LoadedWeights {
  readonly tensors: Map<string, ort.Tensor>;
  /** Keys in the file that the graph does not use (e.g. the VAE encoder for a decoder graph). */
  readonly unused: string[];
}

/** Reads every weight `def` needs from `file` as float32; a missing key or a wrong shape is an error. */
export function weightsFromSafetensors(def: GraphDef, file: SafetensorsFile): LoadedWeights {
  const names = new Set(file.names());
  const missing = def.weights.filter((w) => !names.has(w.name)).map((w) => w.name);
  if (missing.length > 0) {
    throw new LorafuseError(
      'safetensors-invalid',
      `${file.fileName}: ${missing.length} weight(s) of ${def.name} are missing, e.g. '${missing.slice(0, 3).join("', '")}'. Is this the right component file?`,
      { file: file.fileName, network: def.name, missing },
    );
  }
  const tensors = new Map<string, ort.Tensor>();
  for (const w of def.weights) {
    const info = file.info(w.name);
    if (info.shape.length !== w.shape.length || info.shape.some((d, i) => d !== w.shape[i])) {
      throw new LorafuseError(
        'safetensors-invalid',
        `${file.fileName}: '${w.name}' has shape [${info.shape}], ${def.name} expects [${w.shape}]. Does the config match the weights?`,
        { file: file.fileName, key: w.name, expected: w.shape, got: info.shape },
      );
    }
    tensors.set(w.name, new ort.Tensor('float32', file.float32(w.name), [...w.shape]));
  }
  const used = new Set(def.weights.map((w) => w.name));
  return { tensors, unused: [...names].filter((n) => !used.has(n)) };
}

/**
 * Uploads every weight `def` needs from `reader` into a new GPUBuffer on `device` (float32,
 * STORAGE | COPY_SRC | COPY_DST, size padded to ORT_BUFFER_ALIGNMENT), after checking names and
 * shapes against the graph. The buffers are the caller's: a session only reads them. Nothing is
 * left allocated on failure.
 */
export async function weightBuffersFromSafetensors(
  def: GraphDef,
  reader: SafetensorsReader,
  device: GPUDevice,
): Promise<Map<string, GPUBuffer>> {
  const names = new Set(reader.names());
  const missing = def.weights.filter((w) => !names.has(w.name)).map((w) => w.name);
  if (missing.length > 0) {
    throw new LorafuseError(
      'safetensors-invalid',
      `${reader.fileName}: ${missing.length} weight(s) of ${def.name} are missing, e.g. '${missing.slice(0, 3).join("', '")}'. Is this the right component file?`,
      { file: reader.fileName, network: def.name, missing },
    );
  }
  for (const w of def.weights) {
    const info = reader.info(w.name);
    if (info.shape.length !== w.shape.length || info.shape.some((d, i) => d !== w.shape[i])) {
      throw new LorafuseError(
        'safetensors-invalid',
        `${reader.fileName}: '${w.name}' has shape [${info.shape}], ${def.name} expects [${w.shape}]. Does the config match the weights?`,
        { file: reader.fileName, key: w.name, expected: w.shape, got: info.shape },
      );
    }
  }
  const used = new Set(def.weights.map((w) => w.name));
  const buffers = await uploadAll(device, reader, { dtype: 'f32', filter: (info) => used.has(info.name) });
  const padded = new Map<string, GPUBuffer>();
  try {
    for (const [name, buffer] of buffers) padded.set(name, padForOrt(device, buffer));
  } catch (e) {
    for (const b of [...buffers.values(), ...padded.values()]) b.destroy();
    throw e;
  }
  return padded;
}

/**
 * `buffer` itself when its size is a multiple of ORT_BUFFER_ALIGNMENT, else a copy in a buffer
 * padded to it (zeros after the data; `buffer` is destroyed). Small tensors only (biases, norms).
 */
export function padForOrt(device: GPUDevice, buffer: GPUBuffer): GPUBuffer {
  if (buffer.size % ORT_BUFFER_ALIGNMENT === 0) return buffer;
  const padded = device.createBuffer({
    label: buffer.label,
    size: ortBufferSize(buffer.size),
    usage: buffer.usage,
  });
  const encoder = device.createCommandEncoder({ label: `pad ${buffer.label}` });
  encoder.copyBufferToBuffer(buffer, 0, padded, 0, buffer.size);
  device.queue.submit([encoder.finish()]);
  buffer.destroy();
  return padded;
}
