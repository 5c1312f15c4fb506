/** Shared helpers of the lora-formats-* tests: fixture targets, LoRA inputs, synthetic state dicts. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_COMPONENTS, parseModelConfigs } from '../../src/core/graph/config/model-configs.ts';
import { readSafetensors } from '../../src/core/io/safetensors.ts';
import type { ConvertInput, LoraTensors } from '../../src/core/lora/convert.ts';
import { type LoraTarget, loraTarget } from '../../src/core/lora/target.ts';

export const FIX = 'tests/fixtures';

export function readJson<T = unknown>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

/** A LoRA target from a (possibly config-only) pipeline folder. */
export function targetFromDir(dir: string): LoraTarget {
  const configs: Record<string, unknown> = {};
  for (const c of CONFIG_COMPONENTS) {
    const p = join(dir, c, 'config.json');
    if (existsSync(p)) configs[c] = readJson(p);
  }
  return loraTarget(dir, parseModelConfigs(readJson(join(dir, 'model_index.json')), configs, `${dir}/`));
}

export function loraInput(path: string): ConvertInput {
  const f = readSafetensors(new Uint8Array(readFileSync(path)), path);
  return { source: path, tensors: f, metadata: f.header.metadata };
}

/** In-memory tensors: a shape (filled with a deterministic ramp) or explicit values. */
export function fakeTensors(
  spec: Record<string, number[] | { shape: number[]; values: number[] }>,
): LoraTensors {
  const entries = Object.entries(spec).map(([k, v]) => {
    const shape = Array.isArray(v) ? v : v.shape;
    const n = shape.reduce((a, b) => a * b, 1);
    const data = Array.isArray(v)
      ? Float32Array.from({ length: n }, (_, i) => ((i % 7) - 3) / 10)
      : Float32Array.from(v.values);
    return [k, { shape, data }] as const;
  });
  const map = new Map(entries);
  return {
    names: () => [...map.keys()],
    info: (name) => ({ dtype: 'F32', shape: [...(map.get(name)?.shape ?? [])] }),
    float32: (name) => Float32Array.from(map.get(name)?.data ?? []),
  };
}

/** A kohya / PEFT pair of factors for a module of `out` x `in` (linear) at rank `r`. */
export function pair(
  down: string,
  up: string,
  r: number,
  inF: number,
  outF: number,
): Record<string, number[]> {
  return { [down]: [r, inF], [up]: [outF, r] };
}
