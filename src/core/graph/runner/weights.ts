/** Weight tensors for a network, read from a diffusers / transformers safetensors file. */
import * as ort from 'onnxruntime-web';
import { LorafuseError } from '../../../errors.ts';
import type { SafetensorsFile } from '../../io/safetensors.ts';
import type { GraphDef } from '../dsl/builder.ts';

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
