/**
 * The worker API: one interface, implemented once in `src/core/engine/engine.ts`, exposed by
 * `workers/diffusion.worker.ts` through comlink and wrapped by the app. Method names follow
 * Diffusers' names in camelCase as the pipeline API grows.
 */
import type { WebGpuStatus } from './core/gpu/device.ts';
import type { RepoFileEntry } from './core/io/hub.ts';
import type { Component, SourceFormat } from './core/lora/adapter.ts';
import type { CombinationType, MajoritySignMethod } from './core/lora/combine/types.ts';
import type { Schedule } from './core/pipeline/schedule.ts';
import type { SchedulerKind } from './core/pipeline/schedulers/index.ts';
import type { StepAdapterWeight } from './core/pipeline/step-weights.ts';
import type { SerializedError } from './errors.ts';

export type { WebGpuStatus };
/** One entry of a repo listing: `path`, `size` in bytes, `type` file or directory, git `oid`. */
export type RepoFile = RepoFileEntry;

/** Where the networks run: WebGPU when available, onnxruntime-web's wasm backend (CPU) otherwise. */
export type Backend = 'webgpu' | 'wasm';

export interface EngineStatus {
  webgpu: WebGpuStatus;
  backend: Backend;
  /** Why this backend, in words the UI can show as is. */
  backendReason: string;
}

export interface HubOptions {
  /** Hub endpoint, e.g. `https://huggingface.co` or a local Hub-shaped server. */
  hubUrl: string;
  /** Access token for gated or private repos; kept only in the worker's memory. */
  token?: string;
}

export interface ListRepoFilesOptions {
  /** Branch, tag or commit; the Hub's default branch (`main`) when absent. */
  revision?: string;
}

/** This origin's storage as the browser reports it (`navigator.storage.estimate()`), for the UI. */
export interface StorageInfo {
  /** Bytes this origin uses (Cache Storage, IndexedDB, ...), as the browser estimates them. */
  usage: number;
  /** Bytes this origin may use. */
  quota: number;
  /** Whether the browser promised not to evict this origin's data (`navigator.storage.persisted()`). */
  persisted: boolean;
  /** Bytes of Hub files (models, LoRAs) in the engine's cache; null without a cache. */
  hubCacheBytes: number | null;
}

/**
 * Where a LoRA file comes from: a Hub repo and the file in it (Diffusers' `weight_name`), a URL
 * (a Hub `resolve`/`blob` URL is read as a repo file, so it is cached and sent the token), or bytes
 * the page already holds (a dropped file; send them with `Comlink.transfer`).
 */
export type LoraFileSource =
  | { repo: string; weightName: string; revision?: string }
  | { url: string }
  | { bytes: Uint8Array; name: string };

/** Bytes of one download so far; `total` is 0 when the server does not say. */
export interface LoraDownloadProgress {
  loaded: number;
  total: number;
  /** The file being read, for the UI. */
  file: string;
}

/** The attention blocks of the base a LoRA was resolved against: what a block-weights dict can name. */
export interface UNetBlockLayout {
  /** Indices of down blocks with attentions (`block_<i>` keys of Diffusers' `down` dict). */
  down: number[];
  /** Whether the mid block has an attention. */
  mid: boolean;
  up: number[];
}

/** What a LoRA file holds, from really reading and converting it (no weights kept). */
export interface LoraSummary {
  /** The file name without `.safetensors` (a default adapter name). */
  name: string;
  /** The file name or URL as given. */
  file: string;
  byteSize: number;
  /** Number of tensors in the file. */
  keys: number;
  /** Tensor dtypes present, e.g. `['F16']`. */
  dtypes: string[];
  /** Modules per source format (`kohya`, `peft`, ...), most first. */
  formats: { format: SourceFormat; modules: number }[];
  /** Module kinds present (`lora`, `locon-tucker`, `loha`, ...). */
  kinds: string[];
  ranks: number[];
  alphas: number[];
  dora: boolean;
  components: { component: Component; modules: number; ranks: number[]; alphas: number[] }[];
  /** Every module it touches, `component.module` (hotswap compatibility is checked on these). */
  moduleIds: string[];
  /** Keys that map to no module of the base, with the reason; never dropped silently. */
  unmapped: { key: string; reason: string }[];
  /** The base the names were resolved against; `assumed` when no model was loaded (best fit of the built-ins). */
  base: { name: string; assumed: boolean };
  /** Attention blocks of that base's UNet; null when the base has no UNet. */
  unetBlocks: UNetBlockLayout | null;
  /** The safetensors `__metadata__`. */
  metadata: Record<string, string>;
}

export interface LoraSearchQuery {
  /** Repo id of the base model: only adapters tagged `base_model:adapter:<id>` are returned. */
  baseModel?: string;
  /** Substring of the repo id. */
  search?: string;
  /** Default 30. */
  limit?: number;
}

export interface LoraSearchHit {
  repo: string;
  baseModels: string[];
  downloads: number;
  likes: number;
  /** ISO date. */
  updatedAt: string;
  private: boolean;
  gated: false | 'auto' | 'manual';
}

/** Where a model's networks run: WebGPU when a device can be made (`auto`), or one forced. */
export type BackendChoice = 'auto' | Backend;

/** Which model to load: a Hub repo (through the engine's Hub options and cache). */
export interface ModelRef {
  repo: string;
  revision?: string;
  /** Default `auto`. */
  backend?: BackendChoice;
}

/** Bytes of the model's files so far, per file. */
export interface ModelLoadProgress {
  file: string;
  loaded: number;
  total: number;
}

export interface LoadedModelInfo {
  repo: string;
  /** 'sd' (SD1.x/2.x) or 'sdxl'. */
  family: string;
  /** The model's default size (`unet.sample_size * vae_scale_factor`). */
  width: number;
  height: number;
  /** Pixels per latent cell: sizes must be multiples of it. */
  sizeMultiple: number;
  backend: Backend;
}

/** One adapter of a generation: the file read by `inspectLora` (its `LoraSummary.file`), and how to run it. */
export interface GenerateAdapter {
  adapterName: string;
  file: string;
  weight: StepAdapterWeight;
  /** Per-step multiplier (loractl); constant 1 when absent. */
  schedule?: Schedule;
}

/** An adapter the engine is to hold: its name and the file `inspectLora` read (`LoraSummary.file`). */
export interface AdapterRef {
  adapterName: string;
  file: string;
}

/** Diffusers' `fuse_lora(adapter_names, lora_scale)`: the adapters at their weights (schedules ignored). */
export interface FuseRequest {
  adapters: Omit<GenerateAdapter, 'schedule'>[];
  /** Multiplies every adapter's weight in the fused delta. */
  loraScale: number;
}

/** PEFT's `add_weighted_adapter` on adapters the engine read. */
export interface MergeRequest {
  adapters: AdapterRef[];
  /** One per adapter. */
  weights: number[];
  /** The new adapter's name; must not be in use. */
  adapterName: string;
  combinationType: CombinationType;
  /** Fraction kept by the pruning types (`ties*`, `dare_*`, `magnitude_prune*`). */
  density?: number;
  majoritySignMethod?: MajoritySignMethod;
  /** Rank of an `*svd` result (default: the largest input rank). */
  svdRank?: number;
  /** Seed of DARE's masks. */
  seed?: number;
}

/** The merged adapter: what its file holds, and the file (PEFT safetensors) for the page to keep. */
export interface MergeResult {
  summary: LoraSummary;
  bytes: Uint8Array;
}

export type AdapterFileFormat = 'peft' | 'kohya';

export interface SavedAdapterFile {
  /** `<adapterName>.safetensors`. */
  fileName: string;
  bytes: Uint8Array;
}

/** A model (or LoRA) repo in the engine's Hub cache. */
export interface CachedRepo {
  repo: string;
  /** Bytes of its cached files. */
  bytes: number;
  files: number;
  /** The commits cached, most files first. */
  commits: string[];
}

export interface EngineGenerateRequest {
  prompt: string;
  negativePrompt: string;
  steps: number;
  guidanceScale: number;
  seed: number;
  width: number;
  height: number;
  /** Default: the model's scheduler_config.json. */
  scheduler?: SchedulerKind;
  /** Enabled adapters only, in order; the engine loads, replaces and deletes to match. */
  adapters: GenerateAdapter[];
  /** The global LoRA scale per step. */
  scale: Schedule;
}

/** A small RGBA image (a step preview or the result). */
export interface RgbaImage {
  width: number;
  height: number;
  rgba: Uint8ClampedArray;
}

export interface GenerateStep {
  /** 0-based index of the step just finished. */
  step: number;
  steps: number;
  /** A cheap latent->RGB approximation, one pixel per latent cell. */
  preview: RgbaImage;
}

export interface EngineGenerateResult {
  image: RgbaImage;
  /** The request as run, with the scheduler actually used. */
  params: Omit<EngineGenerateRequest, 'scheduler'> & { scheduler: SchedulerKind };
  seconds: number;
}

export interface EngineApi {
  /** WebGPU adapter, features and limits as the worker sees them, and the backend chosen. */
  getStatus(): Promise<EngineStatus>;
  /** Hub endpoint and token used by every later Hub call. */
  setHubOptions(options: HubOptions): Promise<void>;
  /** Every file of a Hub repo, recursively. Throws `hub-not-found`, `hub-unauthorized`, `hub-network`. */
  listRepoFiles(repo: string, options?: ListRepoFilesOptions): Promise<RepoFile[]>;
  /**
   * Asks the browser to keep cached models from eviction (`navigator.storage.persist()`); resolves
   * to whether storage is persistent. Browsers expose `persist()` to pages only: in the worker this
   * reports `persisted()`, and the page asks with `requestPersistentStorage()` (src/app/pwa.ts).
   */
  persistStorage(): Promise<boolean>;
  /** Usage, quota and persistence of this origin's storage; null where there is no Storage API. */
  getStorageEstimate(): Promise<StorageInfo | null>;
  /**
   * Downloads (or takes) a LoRA file, converts it against the base (the built-in SD1.5/SD2/SDXL
   * configs, best fit, while no model is loaded) and reports what it holds. Throws the Hub errors,
   * `safetensors-invalid`, `pickle-refused`, `lora-invalid`; unmapped keys are reported, not thrown.
   */
  inspectLora(source: LoraFileSource, onProgress?: (p: LoraDownloadProgress) => void): Promise<LoraSummary>;
  /** The `.safetensors` files of a Hub repo with their sizes, sorted by path. */
  listLoraFiles(repo: string, options?: ListRepoFilesOptions): Promise<RepoFile[]>;
  /** LoRA repos on the Hub, for a base model and/or a name. */
  searchLoras(query: LoraSearchQuery): Promise<LoraSearchHit[]>;
  /**
   * Loads a diffusers pipeline from the Hub (replacing the loaded one), reporting bytes per file.
   * Throws the Hub errors, `config-invalid`, `pickle-refused`, `not-implemented`.
   */
  loadModel(ref: ModelRef, onProgress?: (p: ModelLoadProgress) => void): Promise<LoadedModelInfo>;
  /**
   * Text to image on the loaded model with the given adapters (per-step schedules applied before
   * each step); `onStep` gets a preview after each step. Throws `cancelled` after `cancel()`.
   */
  generate(request: EngineGenerateRequest, onStep?: (s: GenerateStep) => void): Promise<EngineGenerateResult>;
  /** Stops the running generation before its next step (or before decoding). */
  cancel(): Promise<void>;
  /**
   * Diffusers' `fuse_lora`: folds the adapters at `weight * loraScale` into the loaded model's
   * weights; they stay fused across generations (later requests may omit them) until
   * `unfuseLora`. Resolves to every fused adapter. Throws when one is already fused.
   */
  fuseLora(request: FuseRequest): Promise<string[]>;
  /** Diffusers' `unfuse_lora`: restores the weights from before the first fuse, bit-exactly. */
  unfuseLora(): Promise<void>;
  /**
   * PEFT's `add_weighted_adapter`: combines the adapters into a new one, held under `adapterName`
   * and usable in later requests as `{adapterName, file: summary.file}`.
   */
  addWeightedAdapter(request: MergeRequest): Promise<MergeResult>;
  /** Diffusers' `save_lora_adapter`: the adapter as safetensors, PEFT (default) or kohya keys. */
  saveLoraAdapter(ref: AdapterRef, format?: AdapterFileFormat): Promise<SavedAdapterFile>;
  /**
   * The loaded model's weights of one component with what is fused folded in (live adapters not
   * included), as safetensors: Diffusers' save of a fused pipeline. After `unfuseLora`, the
   * pristine weights.
   */
  exportFusedWeights(component: Component): Promise<SavedAdapterFile>;
  /** Diffusers' `delete_adapters`: drops adapters the engine holds (unknown names are ignored). */
  deleteAdapters(names: string[]): Promise<void>;
  /**
   * Takes a Web Lock that this engine holds for as long as it lives and resolves to its name once
   * held (the same name on every call); null where there are no Web Locks. The page requests the
   * same lock: it is granted when the engine's worker is gone.
   */
  holdLifeLock(): Promise<string | null>;
  /**
   * Calls `onLost` once if the GPU device is lost (at once if it was already); after that, model
   * calls throw `device-lost` and the page must start a new engine.
   */
  watchDeviceLost(onLost: (error: SerializedError) => void): Promise<void>;
  /** Repos in the Hub cache with their sizes, largest first; empty without a cache. */
  listCachedRepos(): Promise<CachedRepo[]>;
  /** Removes a repo's files, listings and refs from the Hub cache; resolves to the bytes freed. */
  deleteCachedRepo(repo: string): Promise<number>;
}
