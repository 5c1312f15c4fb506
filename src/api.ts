/**
 * The worker API: one interface, implemented once in `src/core/engine/engine.ts`, exposed by
 * `workers/diffusion.worker.ts` through comlink and wrapped by the app. Method names follow
 * Diffusers' names in camelCase as the pipeline API grows.
 */
import type { WebGpuStatus } from './core/gpu/device.ts';
import type { RepoFileEntry } from './core/io/hub.ts';

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
}
