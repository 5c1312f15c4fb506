/**
 * The one implementation of `EngineApi`. Framework-free (no React, no comlink): it runs in the
 * worker, and in Node for tests. Dependencies that differ between those places are injected.
 */
import type {
  EngineApi,
  EngineStatus,
  HubOptions,
  ListRepoFilesOptions,
  LoraSearchHit,
  LoraSearchQuery,
  RepoFile,
  StorageInfo,
  WebGpuStatus,
} from '../../api.ts';
import { probeWebGpu } from '../gpu/device.ts';
import { CacheStorageHubCache, type HubCache, listRepoFiles, searchModels } from '../io/hub.ts';
import { isSafetensorsName } from '../pipeline/adapters/lora-source.ts';
import { createGenerationEngine } from './generation-engine.ts';
import { normalizeHubUrl } from './hub-url.ts';
import { readLoraBytes } from './lora-bytes.ts';
import { knownBaseTargets, summarizeLora } from './lora-summary.ts';

export interface EngineDeps {
  /** The WebGPU entry point; defaults to `navigator.gpu` of the worker (absent in Node). */
  gpu?: GPU | undefined;
  /** Used for every Hub request; defaults to the global `fetch`. */
  fetch?: typeof fetch;
  /**
   * Persistent Hub cache (listings, refs, files), so listings and downloads work offline; defaults
   * to Cache Storage where `caches` exists (browser, worker), none otherwise (Node).
   */
  hubCache?: HubCache | undefined;
  /** Quota and persistence; defaults to `navigator.storage` (absent in Node). */
  storage?: StorageManager | undefined;
  /** Marks buffers to move across the worker boundary (the worker passes `Comlink.transfer`). */
  transfer?: <T>(value: T, buffers: Transferable[]) => T;
}

export function createEngine(deps: EngineDeps = {}): EngineApi {
  const gpu = 'gpu' in deps ? deps.gpu : globalThis.navigator?.gpu;
  let hub: HubOptions | undefined;
  let status: Promise<EngineStatus> | undefined;
  const storage = 'storage' in deps ? deps.storage : globalThis.navigator?.storage;
  let hubCache = deps.hubCache;
  // Opened on first use, so an engine that never touches the Hub opens no cache.
  const cache = (): HubCache | undefined => {
    if (!hubCache && !('hubCache' in deps) && globalThis.caches) hubCache = new CacheStorageHubCache();
    return hubCache;
  };
  // Bound to the global scope: a browser's `fetch` called as a method of another object (io/hub.ts
  // calls `d.fetch(...)` when it downloads) throws "Illegal invocation".
  const doFetch: typeof fetch = deps.fetch ?? ((input, init) => globalThis.fetch(input, init));
  /** Endpoint, token, fetch and cache of every Hub call. */
  const hubParams = () => ({
    ...(hub?.hubUrl ? { hubUrl: hub.hubUrl } : {}),
    ...(hub?.token ? { token: hub.token } : {}),
    fetch: doFetch,
    ...(cache() ? { cache: cache() } : {}),
  });

  /** Bytes of every LoRA file read, by `LoraSummary.file`: generation loads adapters from them. */
  const loraBytes = new Map<string, Uint8Array>();
  const generation = createGenerationEngine({
    hub: hubParams,
    loraBytes,
    ...(deps.transfer ? { transfer: deps.transfer } : {}),
  });

  return {
    loadModel: generation.loadModel,
    generate: generation.generate,
    cancel: generation.cancel,

    getStatus() {
      status ??= probeWebGpu(gpu).then(describeBackend);
      return status;
    },

    async setHubOptions(options) {
      hub = { hubUrl: normalizeHubUrl(options.hubUrl) };
      if (options.token) hub.token = options.token;
    },

    async listRepoFiles(repo: string, options: ListRepoFilesOptions = {}): Promise<RepoFile[]> {
      return listRepoFiles(repo, {
        ...hubParams(),
        ...(options.revision ? { revision: options.revision } : {}),
      });
    },

    async inspectLora(source, onProgress) {
      const { file, bytes } = await readLoraBytes(source, { hub: hubParams(), onProgress });
      loraBytes.set(file, bytes);
      // No model is loaded in the engine yet: resolve names against the built-in bases (best fit).
      return summarizeLora(bytes, file, knownBaseTargets(), true);
    },

    async listLoraFiles(repo: string, options: ListRepoFilesOptions = {}): Promise<RepoFile[]> {
      const files = await listRepoFiles(repo, {
        ...hubParams(),
        ...(options.revision ? { revision: options.revision } : {}),
      });
      return files
        .filter((f) => f.type === 'file' && isSafetensorsName(f.path))
        .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    },

    async searchLoras(query: LoraSearchQuery): Promise<LoraSearchHit[]> {
      const base = query.baseModel?.trim();
      const { cache: _noCache, ...params } = hubParams();
      const hits = await searchModels(
        {
          ...(query.search?.trim() ? { search: query.search.trim() } : {}),
          filter: ['lora', ...(base ? [`base_model:adapter:${base}`] : [])],
          limit: query.limit ?? 30,
        },
        params,
      );
      return hits.map((h) => ({
        repo: h.repo,
        baseModels: h.baseModels,
        downloads: h.downloads,
        likes: h.likes,
        updatedAt: h.updatedAt.toISOString(),
        private: h.private,
        gated: h.gated,
      }));
    },

    async persistStorage() {
      if (!storage) return false;
      // persist() is [Exposed=Window]: a worker can only read the answer the page got.
      return typeof storage.persist === 'function' ? storage.persist() : storage.persisted();
    },

    async getStorageEstimate(): Promise<StorageInfo | null> {
      if (!storage) return null;
      const [estimate, persisted, hubCacheBytes] = await Promise.all([
        storage.estimate(),
        storage.persisted(),
        cache()?.size() ?? null,
      ]);
      return { usage: estimate.usage ?? 0, quota: estimate.quota ?? 0, persisted, hubCacheBytes };
    },
  };
}

/** Chooses the backend from the WebGPU probe and says why (DESIGN.md decision 8). */
export function describeBackend(webgpu: WebGpuStatus): EngineStatus {
  if (!webgpu.available) {
    return {
      webgpu,
      backend: 'wasm',
      backendReason: `WebGPU is unavailable (${webgpu.reason}); running on the CPU with onnxruntime-web's wasm backend, which is much slower.`,
    };
  }
  const name =
    [webgpu.adapter.vendor, webgpu.adapter.architecture].filter(Boolean).join(' ') || 'unnamed adapter';
  const precision = webgpu.shaderF16
    ? 'shader-f16 present: f16 weights stay f16'
    : 'no shader-f16: weights are unpacked to f32 in shaders';
  return { webgpu, backend: 'webgpu', backendReason: `WebGPU on ${name}; ${precision}.` };
}
