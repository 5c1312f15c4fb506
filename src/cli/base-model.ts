/**
 * The `--base DIR_OR_REPO` of the CLI commands: a diffusers pipeline (model_index.json and one
 * folder per component with config.json and, unless config-only, its safetensors weights), as a
 * local folder or a Hub repo id (`resolveModelSource`; `HF_TOKEN`, `HF_ENDPOINT` and the lorafuse
 * cache apply). Gives each component's module inventory (names and shapes, from the config alone)
 * and, where the weights exist, the base parameters of single modules. Local weights are read by
 * byte range; Hub weights are downloaded (through the cache) only when a module needs them.
 */
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type ClipTextConfig, parseClipTextConfig } from '../core/graph/config/clip-config.ts';
import type { ComponentInventory } from '../core/graph/config/inventory.ts';
import { findComponent, type ModelIndex, parseModelIndex } from '../core/graph/config/model-index.ts';
import { parseUNetConfig, type UNetConfig } from '../core/graph/config/unet-config.ts';
import { LocalFolderSource, type ModelSource, resolveModelSource } from '../core/io/model-source.ts';
import { readModelJson } from '../core/io/read-model-json.ts';
import { openSafetensors } from '../core/io/safetensors/reader.ts';
import type { ByteSource } from '../core/io/safetensors/sources.ts';
import { readSafetensors } from '../core/io/safetensors.ts';
import { COMPONENTS, type Component, type F32Tensor } from '../core/lora/adapter.ts';
import type { BaseParams } from '../core/lora/merge-cpu.ts';
import { type LoraTarget, loraTarget } from '../core/lora/target.ts';
import { LorafuseError } from '../errors.ts';
import { cliHubOptions } from './hub-options.ts';

/** The few reads a delta needs from a component's weights file. */
export interface WeightReader {
  fileName: string;
  has(key: string): boolean;
  read(key: string): Promise<F32Tensor>;
}

export interface BaseComponent {
  name: Component;
  inventory: ComponentInventory;
  /** Opens the weights file (once); absent for a config-only base. */
  weights?: () => Promise<WeightReader>;
}

export interface BaseModel {
  source: string;
  index: ModelIndex;
  /** What LoRA conversion resolves names against. */
  target: LoraTarget;
  unetConfig: UNetConfig | null;
  components: Partial<Record<Component, BaseComponent>>;
  inventories: Partial<Record<Component, ComponentInventory>>;
}

const WEIGHT_FILES = [
  'diffusion_pytorch_model.safetensors',
  'model.safetensors',
  'diffusion_pytorch_model.fp16.safetensors',
  'model.fp16.safetensors',
];

/** A local file read by byte range. */
function fileSource(path: string): ByteSource {
  return {
    name: path,
    size: async () => (await stat(path)).size,
    read: async (begin, end) => {
      const fh = await open(path, 'r');
      try {
        const out = new Uint8Array(end - begin);
        let done = 0;
        while (done < out.length) {
          const { bytesRead } = await fh.read(out, done, out.length - done, begin + done);
          if (bytesRead === 0)
            throw new LorafuseError('safetensors-invalid', `${path}: file ended early`, { file: path });
          done += bytesRead;
        }
        return out;
      } finally {
        await fh.close();
      }
    },
  };
}

async function openWeights(src: ModelSource, path: string): Promise<WeightReader> {
  if (src instanceof LocalFolderSource) {
    const r = await openSafetensors(fileSource(join(src.dir, ...path.split('/'))));
    return {
      fileName: r.fileName,
      has: (key) => r.header.tensors.has(key),
      read: async (key) => ({ shape: [...r.info(key).shape], data: await r.readFloat32(key) }),
    };
  }
  const name = `${src.describe}/${path}`;
  const f = readSafetensors(await src.readBytes(path), name);
  return {
    fileName: name,
    has: (key) => f.header.tensors.has(key),
    read: async (key) => ({ shape: [...f.info(key).shape], data: f.float32(key) }),
  };
}

function once<T>(f: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => {
    p ??= f();
    return p;
  };
}

export async function openBaseModel(dirOrRepo: string): Promise<BaseModel> {
  const src = await resolveModelSource(dirOrRepo, cliHubOptions());
  const files = new Set(await src.list());
  if (!files.has('model_index.json')) {
    throw new LorafuseError(
      'invalid-argument',
      `--base ${src.describe}: no model_index.json there. Give a diffusers pipeline (model_index.json + unet/, text_encoder/ ...).`,
      { base: dirOrRepo },
    );
  }
  const index = parseModelIndex(
    await readModelJson(src, 'model_index.json'),
    `${src.describe}/model_index.json`,
  );
  let unet: UNetConfig | null = null;
  const clip: Partial<Record<Component, ClipTextConfig>> = {};
  for (const name of COMPONENTS) {
    const entry = findComponent(index, name);
    if (!entry) continue;
    const path = `${name}/config.json`;
    const json = await readModelJson(src, path);
    if (name === 'unet') unet = parseUNetConfig(json, `${src.describe}/${path}`);
    else clip[name] = parseClipTextConfig(json, `${src.describe}/${path}`, entry.className);
  }
  const target = loraTarget(src.describe, {
    unet,
    textEncoder: clip.text_encoder ?? null,
    textEncoder2: clip.text_encoder_2 ?? null,
  });
  const model: BaseModel = {
    source: src.describe,
    index,
    target,
    unetConfig: unet,
    components: {},
    inventories: {},
  };
  for (const name of COMPONENTS) {
    const inventory = target.components[name]?.inventory;
    if (!inventory) continue;
    const component: BaseComponent = { name, inventory };
    const file = WEIGHT_FILES.map((f) => `${name}/${f}`).find((p) => files.has(p));
    if (file) component.weights = once(() => openWeights(src, file));
    model.components[name] = component;
    model.inventories[name] = inventory;
  }
  return model;
}

/** The base weight (and bias) of one module, or undefined for a config-only base. */
export async function baseParams(c: BaseComponent, module: string): Promise<BaseParams | undefined> {
  if (!c.weights) return undefined;
  const w = await c.weights();
  if (!w.has(`${module}.weight`)) {
    throw new LorafuseError(
      'lora-unmapped-keys',
      `${w.fileName}: no '${module}.weight' in the base ${c.name}`,
      {
        file: w.fileName,
        module,
      },
    );
  }
  const weight = await w.read(`${module}.weight`);
  return w.has(`${module}.bias`) ? { weight, bias: await w.read(`${module}.bias`) } : { weight };
}
