/** Shared plumbing of the adapters-* tests: a fixture model's target and base weights, a recording sink. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_COMPONENTS, parseModelConfigs } from '../../src/core/graph/config/model-configs.ts';
import { LocalFolderSource } from '../../src/core/io/model-source.ts';
import { readSafetensors, type SafetensorsFile, writeSafetensors } from '../../src/core/io/safetensors.ts';
import type { Component } from '../../src/core/lora/adapter.ts';
import type { BaseParams } from '../../src/core/lora/merge-cpu.ts';
import type { MergeBackend } from '../../src/core/lora/merge-fast/merge-backend.ts';
import { type LoraTarget, loraTarget } from '../../src/core/lora/target.ts';
import { AdapterManager, type WeightSink } from '../../src/core/pipeline/adapters.ts';

export const FIX = join(import.meta.dirname, '..', 'fixtures');

function json(path: string): unknown {
  return JSON.parse(readFileSync(join(FIX, path), 'utf8'));
}

export function target(model: 'tiny-sd15' | 'tiny-sdxl'): LoraTarget {
  const dir = `models/${model}`;
  const configs: Record<string, unknown> = {};
  const index = json(`${dir}/model_index.json`) as Record<string, unknown>;
  for (const c of CONFIG_COMPONENTS) if (c in index) configs[c] = json(`${dir}/${c}/config.json`);
  return loraTarget(dir, parseModelConfigs(index, configs, `${dir}/`));
}

const files = new Map<string, SafetensorsFile>();
function weightsFile(model: string, component: Component): SafetensorsFile {
  const name = component === 'unet' ? 'diffusion_pytorch_model.safetensors' : 'model.safetensors';
  const path = `models/${model}/${component}/${name}`;
  let f = files.get(path);
  if (!f) {
    f = readSafetensors(new Uint8Array(readFileSync(join(FIX, path))), path);
    files.set(path, f);
  }
  return f;
}

/** Base weights straight from the fixture model's files (fresh arrays per read), counting reads. */
export function fileBase(model: 'tiny-sd15' | 'tiny-sdxl'): {
  reads: number;
  read(component: Component, module: string): BaseParams;
} {
  const src = {
    reads: 0,
    read(component: Component, module: string): BaseParams {
      src.reads++;
      const f = weightsFile(model, component);
      const w = `${module}.weight`;
      const b = `${module}.bias`;
      const weight = { shape: [...f.info(w).shape], data: f.float32(w) };
      return f.names().includes(b)
        ? { weight, bias: { shape: [...f.info(b).shape], data: f.float32(b) } }
        : { weight };
    },
  };
  return src;
}

/** Records every write: the last params per parameter, and the count. */
export class RecordingSink implements WeightSink {
  readonly last = new Map<string, BaseParams>();
  count = 0;
  write(component: Component, module: string, params: BaseParams): void {
    this.count++;
    this.last.set(`${component}.${module}`, params);
  }
}

export function manager(model: 'tiny-sd15' | 'tiny-sdxl' = 'tiny-sd15', merge?: MergeBackend) {
  const sink = new RecordingSink();
  const base = fileBase(model);
  const m = new AdapterManager({
    target: target(model),
    base,
    openRepo: (repo) => new LocalFolderSource(join(FIX, repo)),
    sinks: [sink],
    ...(merge ? { merge } : {}),
  });
  return { m, sink, base };
}

export const LORA = {
  trainscript: { repo: 'loras/sd15-diffusers-trainscript' },
  kohya: { repo: 'loras/sd15-kohya', weightName: 'sd15-kohya.safetensors' },
  locon: { repo: 'loras/sd15-kohya-locon', weightName: 'sd15-kohya-locon.safetensors' },
  dora: { repo: 'loras/sd15-dora' },
  rank2: { repo: 'loras/sd15-rank2' },
  rank8: { repo: 'loras/sd15-rank8' },
  peft: { repo: 'loras/sd15-peft-metadata' },
  sdxlKohya: { repo: 'loras/sdxl-kohya', weightName: 'sdxl-kohya.safetensors' },
} as const;

/** A PEFT-keyed LoRA file in memory: `{'unet.conv_in': {down: [r,in,..], up: [out,r,..]}}`, ramp values. */
export function peftLora(modules: Record<string, { down: number[]; up: number[]; scale?: number }>): {
  bytes: Uint8Array;
  name: string;
} {
  const tensors = Object.entries(modules).flatMap(([path, f]) =>
    (
      [
        ['lora_A', f.down],
        ['lora_B', f.up],
      ] as const
    ).map(([n, shape]) => {
      const len = shape.reduce((a, b) => a * b, 1);
      const data = Float32Array.from({ length: len }, (_, i) => (((i * 7) % 11) - 5) * 0.01 * (f.scale ?? 1));
      return { name: `${path}.${n}.weight`, dtype: 'F32' as const, shape, data };
    }),
  );
  return { bytes: writeSafetensors(tensors), name: 'synthetic.safetensors' };
}

export function sameArray(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

export function maxAbs(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
