/**
 * The one implementation of `EngineApi`. Framework-free (no React, no comlink): it runs in the
 * worker, and in Node for tests. Dependencies that differ between those places are injected.
 */
import type {
  CachedRepo,
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
import { LorafuseError, type SerializedError } from '../../errors.ts';
import { probeWebGpu } from '../gpu/device.ts';
import {
  type CachedFile,
  CacheStorageHubCache,
  type HubCache,
  listRepoFiles,
  searchModels,
} from '../io/hub.ts';
import { isSafetensorsName } from '../pipeline/adapters/lora-source.ts';
import { createGenerationEngine } from './generation-engine.ts';
import { normalizeHubUrl } from './hub-url.ts';
import { LoraByteCache } from './lora-byte-cache.ts';
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
  /** Web Locks, for `holdLifeLock`; defaults to `navigator.locks` (absent in Node). */
  locks?: LockManager | undefined;
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
  // Bounded (2 GiB, least recently used dropped first); merged adapters' bytes are never dropped.
  const loraBytes = new LoraByteCache();
  const transfer = deps.transfer ?? (<T>(v: T) => v);
  let lifeLock: Promise<string> | undefined;
  /** The device-lost error once it happened; every later model call throws it. */
  let lost: LorafuseError | undefined;
  const lostWatchers: ((e: SerializedError) => void)[] = [];
  const generation = createGenerationEngine({
    hub: hubParams,
    loraBytes,
    gpu,
    onDeviceLost: (e) => {
      lost = e;
      for (const w of lostWatchers) w(e.toJSON());
    },
    ...(deps.transfer ? { transfer: deps.transfer } : {}),
  });

  /** Model calls refuse after a device loss: the page must restart the engine. */
  const live =
    <A extends unknown[], R>(f: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> => {
      if (lost) {
        return Promise.reject(
          new LorafuseError(
            'device-lost',
            `${lost.message} Press "Restart engine" to start a new engine and reload the model.`,
            lost.details,
          ),
        );
      }
      return f(...args);
    };

  return {
    loadModel: live(generation.loadModel),
    generate: live(generation.generate),
    cancel: generation.cancel,
    fuseLora: live(generation.fuseLora),
    unfuseLora: live(generation.unfuseLora),
    deleteAdapters: generation.deleteAdapters,

    async holdLifeLock() {
      const locks = 'locks' in deps ? deps.locks : globalThis.navigator?.locks;
      if (!locks) return null;
      lifeLock ??= new Promise<string>((resolve) => {
        const name = `lorafuse-engine-${globalThis.crypto.randomUUID()}`;
        void locks.request(name, () => {
          resolve(name);
          return new Promise<never>(() => {});
        });
      });
      return lifeLock;
    },

    async watchDeviceLost(onLost) {
      if (lost) onLost(lost.toJSON());
      else lostWatchers.push(onLost);
    },

    async addWeightedAdapter(request) {
      const { file, bytes } = await generation.addWeightedAdapter(request);
      const summary = summarizeLora(bytes, file, knownBaseTargets(), true);
      // The page keeps a copy (to hand a restarted engine); the engine keeps its own.
      const copy = bytes.slice();
      return transfer({ summary, bytes: copy }, [copy.buffer]);
    },

    async saveLoraAdapter(ref, format = 'peft') {
      const bytes = (await generation.saveLoraAdapter(ref, format)).slice();
      return transfer({ fileName: `${ref.adapterName}.safetensors`, bytes }, [bytes.buffer]);
    },

    async exportFusedWeights(component) {
      const bytes = (await live(generation.exportFusedWeights)(component)).slice();
      return transfer({ fileName: `${component}.fused.safetensors`, bytes }, [bytes.buffer]);
    },

    async listCachedRepos(): Promise<CachedRepo[]> {
      const c = cache();
      return c ? groupCachedFiles(await c.listCached()) : [];
    },

    async deleteCachedRepo(repo) {
      const c = cache();
      if (!c) return 0;
      return c.delete(repo);
    },

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

/** Cached files by repo, with their bytes and commits; largest repo first. */
export function groupCachedFiles(files: readonly CachedFile[]): CachedRepo[] {
  const byRepo = new Map<string, { bytes: number; files: number; commits: Map<string, number> }>();
  for (const f of files) {
    const r = byRepo.get(f.repo) ?? { bytes: 0, files: 0, commits: new Map<string, number>() };
    r.bytes += f.size;
    r.files += 1;
    r.commits.set(f.commit, (r.commits.get(f.commit) ?? 0) + 1);
    byRepo.set(f.repo, r);
  }
  return [...byRepo]
    .map(([repo, r]) => ({
      repo,
      bytes: r.bytes,
      files: r.files,
      commits: [...r.commits].sort((a, b) => b[1] - a[1]).map(([c]) => c),
    }))
    .sort((a, b) => b.bytes - a.bytes || (a.repo < b.repo ? -1 : 1));
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
