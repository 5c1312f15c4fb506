/**
 * Weights for a network from a diffusers / transformers safetensors file: CPU tensors (wasm) or
 * GPU buffers we own (WebGPU), in the dtype the graph declares (float32, or float16: F16 data is
 * taken as is, other dtypes are rounded to nearest even).
 */
import * as ort from 'onnxruntime-web';
import { LorafuseError } from '../../../errors.ts';
import type { SafetensorsFile, SafetensorsReader } from '../../io/safetensors.ts';
import { f32ToF16, uploadAll } from '../../io/safetensors.ts';
import type { GraphDef, WeightSpec } from '../dsl/builder.ts';
import { NetworkSession, type NetworkSessionOptions, ORT_BUFFER_ALIGNMENT } from './session.ts';
import { weightDtypeOf } from './weight-dtype.ts';

export interface LoadedWeights {
  readonly tensors: Map<string, ort.Tensor>;
}

/** The file's tensor as the graph's weight dtype (a fresh array). */
function cpuWeight(file: SafetensorsFile, w: WeightSpec): ort.Tensor {
  if (w.dtype === 'float32') return new ort.Tensor('float32', file.float32(w.name), [...w.shape]);
  if (w.dtype !== 'float16') {
    throw new LorafuseError('not-implemented', `${file.fileName}: weight '${w.name}' has dtype ${w.dtype}.`, {
      file: file.fileName,
      key: w.name,
    });
  }
  const half =
    file.info(w.name).dtype === 'F16'
      ? new Uint16Array(file.raw(w.name).slice().buffer)
      : f32ToF16(file.float32(w.name));
  return new ort.Tensor('float16', half, [...w.shape]);
}

/** The names and shapes of `def`'s weights in a file's header; a missing key or a wrong shape is an error. */
function checkWeights(def: GraphDef, file: Pick<SafetensorsReader, 'fileName' | 'names' | 'info'>): void {
  const names = new Set(file.names());
  const missing = def.weights.filter((w) => !names.has(w.name)).map((w) => w.name);
  if (missing.length > 0) {
    throw new LorafuseError(
      'safetensors-invalid',
      `${file.fileName}: ${missing.length} weight(s) of ${def.name} are missing, e.g. '${missing.slice(0, 3).join("', '")}'. Is this the right component file?`,
      { file: file.fileName, network: def.name, missing },
    );
  }
  for (const w of def.weights) {
    const info = file.info(w.name);
    if (info.shape.length !== w.shape.length || info.shape.some((d, i) => d !== w.shape[i])) {
      throw new LorafuseError(
        'safetensors-invalid',
        `${file.fileName}: '${w.name}' has shape [${info.shape}], ${def.name} expects [${w.shape}]. Does the config match the weights?`,
        { file: file.fileName, key: w.name, expected: w.shape, got: info.shape },
      );
    }
  }
}

/**
 * Reads every weight `def` needs from `file` in the graph's weight dtype; a missing key or a wrong
 * shape is an error.
 */
export function weightsFromSafetensors(def: GraphDef, file: SafetensorsFile): LoadedWeights {
  checkWeights(def, file);
  const tensors = new Map<string, ort.Tensor>();
  for (const w of def.weights) tensors.set(w.name, cpuWeight(file, w));
  return { tensors };
}

/** A session for `def` (wasm unless `options` say otherwise) with every weight read from `file`. */
export async function sessionFromSafetensors(
  def: GraphDef,
  file: SafetensorsFile,
  options?: NetworkSessionOptions,
): Promise<NetworkSession> {
  const { tensors } = weightsFromSafetensors(def, file);
  const session = await NetworkSession.create(def, options);
  for (const [name, t] of tensors) session.setWeight(name, t);
  return session;
}

/**
 * Uploads every weight `def` needs from `reader` into a new GPUBuffer on `device` (the graph's
 * weight dtype: float32, or float16 as 'f16-packed', which is plain little-endian halves;
 * STORAGE | COPY_SRC | COPY_DST, allocated at `ortBufferSize`: padded to ORT_BUFFER_ALIGNMENT
 * with zeros after the data), after checking names and shapes against the graph. The buffers are
 * the caller's: a session only reads them. Nothing is left allocated on failure.
 */
export async function weightBuffersFromSafetensors(
  def: GraphDef,
  reader: SafetensorsReader,
  device: GPUDevice,
): Promise<Map<string, GPUBuffer>> {
  checkWeights(def, reader);
  const used = new Set(def.weights.map((w) => w.name));
  const dtype = weightDtypeOf(def) === 'float16' ? 'f16-packed' : 'f32';
  return uploadAll(device, reader, {
    dtype,
    alignment: ORT_BUFFER_ALIGNMENT,
    filter: (info) => used.has(info.name),
  });
}
