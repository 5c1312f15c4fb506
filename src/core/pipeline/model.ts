/**
 * A diffusers text-to-image pipeline loaded for inference: `model_index.json`, the UNet, the VAE
 * decoder, one (SD1.x/SD2.x) or two (SDXL) CLIP text encoders with their tokenizers, and the
 * scheduler config, read from a `ModelSource` (local folder or Hub repo). Each network gets one
 * `NetworkSession` for the model's whole life; its weights are set once here and replaced later
 * (LoRA merges) through the session, never by recreating it.
 */

import { LorafuseError } from '../../errors.ts';
import type { ClipTextConfig } from '../graph/config/clip-config.ts';
import type { JsonObject } from '../graph/config/json-fields.ts';
import { type ModelConfigs, parseModelConfigs } from '../graph/config/model-configs.ts';
import { findComponent } from '../graph/config/model-index.ts';
import type { UNetConfig } from '../graph/config/unet-config.ts';
import type { VaeConfig } from '../graph/config/vae-config.ts';
import type { GraphDef, WeightDType } from '../graph/dsl/builder.ts';
import { buildClipTextGraph } from '../graph/nets/clip.ts';
import { buildUNetGraph } from '../graph/nets/unet.ts';
import { buildVaeDecoderGraph } from '../graph/nets/vae.ts';
import { gpuSessionFromSafetensors, type WebGpuSessionOptions } from '../graph/runner/gpu-session.ts';
import type { NetworkSession, NetworkSessionOptions } from '../graph/runner/session.ts';
import { sessionFromSafetensors } from '../graph/runner/weights.ts';
import type { ModelSource } from '../io/model-source.ts';
import { readModelJson } from '../io/read-model-json.ts';
import { bufferSource, openSafetensors, readSafetensors } from '../io/safetensors.ts';
import { parseSchedulerConfigJson } from './schedulers/index.ts';
import { CLIP_TOKENIZER_FILES, type ClipTokenizer, createClipTokenizer } from './tokenizer.ts';

export type PipelineFamily = 'sd' | 'sdxl';

export type TextEncoderName = 'text_encoder' | 'text_encoder_2';

export interface LoadedTextEncoder {
  name: TextEncoderName;
  config: ClipTextConfig;
  tokenizer: ClipTokenizer;
  session: NetworkSession;
}

export interface LoadedModel {
  /** Where it was read from, for messages. */
  readonly describe: string;
  readonly family: PipelineFamily;
  readonly configs: ModelConfigs;
  readonly unetConfig: UNetConfig;
  readonly vaeConfig: VaeConfig;
  readonly unet: NetworkSession;
  /** The VAE decoder only (`vae.decode`). */
  readonly vae: NetworkSession;
  /** `text_encoder`, then `text_encoder_2` for SDXL. */
  readonly textEncoders: readonly LoadedTextEncoder[];
  readonly schedulerConfig: JsonObject;
  /** SDXL's `force_zeros_for_empty_prompt` (model_index.json; true when absent, as in Diffusers). */
  readonly forceZerosForEmptyPrompt: boolean;
  /** `2 ** (len(vae.block_out_channels) - 1)`: pixels per latent cell. */
  readonly vaeScaleFactor: number;
  /** The session of a component by its diffusers name. */
  session(component: string): NetworkSession;
  release(): Promise<void>;
}

export interface LoadModelOptions {
  /** Passed to every `NetworkSession` (execution providers: wasm by default). */
  session?: NetworkSessionOptions;
  /**
   * Weight storage of every network (default float32; pick with `chooseWeightDtype`: float16 on a
   * WebGPU device with shader-f16). Compute stays float32.
   */
  weightDType?: WeightDType;
  /** Called as each component finishes loading. */
  onProgress?: (component: string) => void;
}

/** Weight files in the order they are preferred; pickle files are refused, never read. */
const WEIGHT_FILES: Record<'diffusers' | 'transformers', string[]> = {
  diffusers: ['diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.fp16.safetensors'],
  transformers: ['model.safetensors', 'model.fp16.safetensors'],
};
const PICKLE = /\.(bin|ckpt|pt|pth)$/;

const PIPELINES: Record<string, PipelineFamily> = {
  StableDiffusionPipeline: 'sd',
  StableDiffusionXLPipeline: 'sdxl',
};

function weightFile(files: ReadonlySet<string>, component: string, src: ModelSource): string {
  const kind = component.startsWith('text_encoder') ? 'transformers' : 'diffusers';
  const found = WEIGHT_FILES[kind].map((f) => `${component}/${f}`).find((p) => files.has(p));
  if (found) return found;
  const pickle = [...files].find((f) => f.startsWith(`${component}/`) && PICKLE.test(f));
  if (pickle) {
    throw new LorafuseError(
      'pickle-refused',
      `${src.describe}: ${component} has only a pickle checkpoint (${pickle}); lorafuse reads safetensors only. Use a repo revision with ${WEIGHT_FILES[kind][0]}, or convert it.`,
      { file: pickle },
    );
  }
  throw new LorafuseError(
    'hub-not-found',
    `${src.describe}: no weights for ${component} (expected ${component}/${WEIGHT_FILES[kind][0]}). Sharded weights are not supported yet.`,
    { component },
  );
}

/**
 * One network's session with its weights: CPU tensors on wasm; on WebGPU, GPUBuffers we own
 * (`owned` collects them for `release`), so the adapter manager's GPU store can bind into them.
 */
async function loadSession(
  src: ModelSource,
  files: ReadonlySet<string>,
  component: string,
  def: GraphDef,
  options: LoadModelOptions,
  owned: GPUBuffer[],
): Promise<NetworkSession> {
  const path = weightFile(files, component, src);
  const bytes = await src.readBytes(path);
  const name = `${src.describe}/${path}`;
  const session =
    options.session?.backend === 'webgpu'
      ? await gpuSession(def, bytes, name, options.session, owned)
      : await sessionFromSafetensors(def, readSafetensors(bytes, name), options.session);
  options.onProgress?.(component);
  return session;
}

async function gpuSession(
  def: GraphDef,
  bytes: Uint8Array,
  name: string,
  options: WebGpuSessionOptions,
  owned: GPUBuffer[],
): Promise<NetworkSession> {
  const reader = await openSafetensors(bufferSource(bytes, name));
  const { session, buffers } = await gpuSessionFromSafetensors(def, reader, options);
  owned.push(...buffers.values());
  return session;
}

async function loadTokenizer(src: ModelSource, files: ReadonlySet<string>, folder: string) {
  const read = async (f: string) =>
    files.has(`${folder}/${f}`) ? src.readText(`${folder}/${f}`) : undefined;
  const [tokenizerJson, vocab, merges, tokenizerConfig, specialTokensMap] = await Promise.all(
    CLIP_TOKENIZER_FILES.map(read),
  );
  return createClipTokenizer({
    name: folder,
    ...(tokenizerJson !== undefined ? { tokenizerJson } : { vocab, merges }),
    tokenizerConfig,
    specialTokensMap,
  });
}

function required<T>(value: T | null, src: ModelSource, component: string): T {
  if (value === null) {
    throw new LorafuseError(
      'config-invalid',
      `${src.describe}: model_index.json lists no '${component}'; a text-to-image pipeline needs one.`,
      { component },
    );
  }
  return value;
}

export async function loadModel(src: ModelSource, options: LoadModelOptions = {}): Promise<LoadedModel> {
  const files = new Set(await src.list());
  if (!files.has('model_index.json')) {
    throw new LorafuseError(
      'invalid-argument',
      `${src.describe}: no model_index.json. Give a diffusers pipeline folder or repo (model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/).`,
      { source: src.describe },
    );
  }
  const indexJson = await readModelJson(src, 'model_index.json');
  const rawConfigs: Record<string, unknown> = {};
  for (const c of ['unet', 'text_encoder', 'text_encoder_2', 'vae']) {
    if (files.has(`${c}/config.json`)) rawConfigs[c] = await readModelJson(src, `${c}/config.json`);
  }
  const configs = parseModelConfigs(indexJson, rawConfigs, `${src.describe}/`);
  const family = PIPELINES[configs.index.pipelineClass];
  if (!family) {
    throw new LorafuseError(
      'not-implemented',
      `${src.describe}: pipeline '${configs.index.pipelineClass}' is not supported; lorafuse runs ${Object.keys(PIPELINES).join(' and ')}.`,
      { pipeline: configs.index.pipelineClass },
    );
  }
  const unetConfig = required(configs.unet, src, 'unet');
  const vaeConfig = required(configs.vae, src, 'vae');
  const encoderNames: TextEncoderName[] =
    family === 'sdxl' ? ['text_encoder', 'text_encoder_2'] : ['text_encoder'];
  const encoderConfigs = encoderNames.map((n) =>
    required(n === 'text_encoder' ? configs.textEncoder : configs.textEncoder2, src, n),
  );
  if (family === 'sdxl' && !encoderConfigs[1]!.withProjection) {
    throw new LorafuseError(
      'config-invalid',
      `${src.describe}: SDXL's text_encoder_2 must be CLIPTextModelWithProjection (its text_embeds feed the UNet).`,
      { component: 'text_encoder_2' },
    );
  }
  const schedulerPath = 'scheduler/scheduler_config.json';
  if (!files.has(schedulerPath)) {
    throw new LorafuseError('config-invalid', `${src.describe}: ${schedulerPath} is missing.`, {
      file: schedulerPath,
    });
  }
  const schedulerConfig = parseSchedulerConfigJson(
    await src.readText(schedulerPath),
    `${src.describe}/${schedulerPath}`,
  );

  const dt = options.weightDType ? { weightDType: options.weightDType } : {};
  const sessions = new Map<string, NetworkSession>();
  /** Weight buffers of WebGPU sessions, destroyed after the sessions are released. */
  const owned: GPUBuffer[] = [];
  const releaseAll = async () => {
    for (const s of sessions.values()) await s.release();
    sessions.clear();
    for (const b of owned) b.destroy();
    owned.length = 0;
  };
  const track = (name: string, s: NetworkSession) => {
    sessions.set(name, s);
    return s;
  };
  try {
    const textEncoders: LoadedTextEncoder[] = [];
    for (const [i, name] of encoderNames.entries()) {
      const config = encoderConfigs[i]!;
      const tokenizerFolder = name === 'text_encoder' ? 'tokenizer' : 'tokenizer_2';
      if (!findComponent(configs.index, tokenizerFolder)) {
        throw new LorafuseError(
          'config-invalid',
          `${src.describe}: model_index.json lists no '${tokenizerFolder}'.`,
          {
            component: tokenizerFolder,
          },
        );
      }
      const tokenizer = await loadTokenizer(src, files, tokenizerFolder);
      const session = track(
        name,
        await loadSession(src, files, name, buildClipTextGraph(config, dt), options, owned),
      );
      textEncoders.push({ name, config, tokenizer, session });
    }
    const unet = track(
      'unet',
      await loadSession(src, files, 'unet', buildUNetGraph(unetConfig, dt), options, owned),
    );
    const vae = track(
      'vae',
      await loadSession(src, files, 'vae', buildVaeDecoderGraph(vaeConfig, dt), options, owned),
    );
    const force = configs.index.options.force_zeros_for_empty_prompt;
    return {
      describe: src.describe,
      family,
      configs,
      unetConfig,
      vaeConfig,
      unet,
      vae,
      textEncoders,
      schedulerConfig,
      forceZerosForEmptyPrompt: family === 'sdxl' && force !== false,
      vaeScaleFactor: 2 ** (vaeConfig.blockOutChannels.length - 1),
      session(component: string): NetworkSession {
        const s = sessions.get(component);
        if (!s) {
          throw new LorafuseError(
            'invalid-argument',
            `${src.describe}: no component '${component}' is loaded (have ${[...sessions.keys()].join(', ')}).`,
            { component },
          );
        }
        return s;
      },
      release: releaseAll,
    };
  } catch (e) {
    await releaseAll();
    throw e;
  }
}
