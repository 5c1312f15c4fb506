/** Test helpers: read fixture models and cases (tests/fixtures/) and run a built network on wasm. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-web';
import type { GraphDef } from '../../src/core/graph/dsl/builder.ts';
import type { NetworkSession } from '../../src/core/graph/runner/session.ts';
import { sessionFromSafetensors } from '../../src/core/graph/runner/weights.ts';
import { readSafetensors, type SafetensorsFile } from '../../src/core/io/safetensors.ts';

ort.env.wasm.numThreads = 1;

export const FIXTURES = join(import.meta.dirname, '..', 'fixtures');

export function readJson(path: string): unknown {
  return JSON.parse(readFileSync(join(FIXTURES, path), 'utf8'));
}

export function readTensors(path: string): SafetensorsFile {
  const buf = readFileSync(join(FIXTURES, path));
  return readSafetensors(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), path);
}

/** The weights file of a diffusers component folder. */
export function componentWeights(model: string, component: string): SafetensorsFile {
  const file = component.startsWith('text_encoder')
    ? 'model.safetensors'
    : 'diffusion_pytorch_model.safetensors';
  return readTensors(`models/${model}/${component}/${file}`);
}

export interface FixtureCase {
  json: { inputs: Record<string, { shape: number[] }>; outputs: Record<string, { shape: number[] }> };
  tensors: SafetensorsFile;
}

export function readCase(name: string): FixtureCase {
  return {
    json: readJson(`cases/${name}.json`) as FixtureCase['json'],
    tensors: readTensors(`cases/${name}.safetensors`),
  };
}

export function caseTensor(c: FixtureCase, key: string): ort.Tensor {
  const info = c.tensors.info(key);
  return new ort.Tensor('float32', c.tensors.float32(key), info.shape);
}

/** A session for `def` with every weight read from `weights`. */
export const sessionWithWeights = (def: GraphDef, weights: SafetensorsFile): Promise<NetworkSession> =>
  sessionFromSafetensors(def, weights);

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
  }
  return m;
}
