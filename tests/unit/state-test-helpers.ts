/** Helpers shared by the state tests: an in-memory StateStorage and a scriptable fake EngineApi. */
import type { StateStorage } from 'zustand/middleware';
import type {
  EngineApi,
  EngineStatus,
  HubOptions,
  ListRepoFilesOptions,
  LoraDownloadProgress,
  LoraFileSource,
  LoraSearchHit,
  LoraSearchQuery,
  LoraSummary,
  RepoFile,
} from '../../src/api.ts';

export function memoryStorage(
  initial: Record<string, string> = {},
): StateStorage & { data: Map<string, string> } {
  const data = new Map(Object.entries(initial));
  return {
    data,
    getItem: (k) => data.get(k) ?? null,
    setItem: (k, v) => {
      data.set(k, v);
    },
    removeItem: (k) => {
      data.delete(k);
    },
  };
}

export const SWIFTSHADER_STATUS: EngineStatus = {
  webgpu: {
    available: true,
    adapter: { vendor: 'google', architecture: 'swiftshader', device: '', description: 'SwiftShader' },
    features: ['float32-filterable', 'shader-f16'],
    limits: { maxBufferSize: 268435456, maxStorageBufferBindingSize: 134217728 },
    shaderF16: true,
  },
  backend: 'webgpu',
  backendReason: 'WebGPU on google swiftshader',
};

/** The methods scripted through `fakeEngine`'s `adapters` behaviour; each call is recorded with its arguments. */
const ADAPTER_METHODS = [
  'loadModel',
  'generate',
  'fuseLora',
  'unfuseLora',
  'addWeightedAdapter',
  'saveLoraAdapter',
  'deleteAdapters',
  'listCachedRepos',
  'deleteCachedRepo',
  'exportFusedWeights',
  'watchDeviceLost',
  'holdLifeLock',
] as const;
type AdapterMethod = (typeof ADAPTER_METHODS)[number];

export interface FakeEngine extends EngineApi {
  calls: Array<
    | { method: 'getStatus' }
    | { method: 'setHubOptions'; options: HubOptions }
    | { method: 'listRepoFiles'; repo: string; options: ListRepoFilesOptions | undefined }
    | { method: 'inspectLora'; source: LoraFileSource }
    | { method: 'listLoraFiles'; repo: string; options: ListRepoFilesOptions | undefined }
    | { method: 'searchLoras'; query: LoraSearchQuery }
    | { method: AdapterMethod; args: unknown[] }
  >;
}

/** Every method records its call, then runs the given behaviour (default: a fixed answer). */
export function fakeEngine(
  behaviour: {
    getStatus?: () => Promise<EngineStatus>;
    listRepoFiles?: (repo: string, options?: ListRepoFilesOptions) => Promise<RepoFile[]>;
    inspectLora?: (
      source: LoraFileSource,
      onProgress?: (p: LoraDownloadProgress) => void,
    ) => Promise<LoraSummary>;
    listLoraFiles?: (repo: string, options?: ListRepoFilesOptions) => Promise<RepoFile[]>;
    searchLoras?: (query: LoraSearchQuery) => Promise<LoraSearchHit[]>;
    /** Model, generation, adapter and cache methods; unscripted ones reject (deleteAdapters resolves). */
    more?: Partial<Pick<EngineApi, AdapterMethod>>;
  } = {},
): FakeEngine {
  const calls: FakeEngine['calls'] = [];
  const recorded = Object.fromEntries(
    ADAPTER_METHODS.map((name) => [
      name,
      (...args: unknown[]) => {
        // The engine-life calls of `start` and restarts are not recorded: tests read the flows' calls.
        if (name !== 'watchDeviceLost' && name !== 'holdLifeLock') calls.push({ method: name, args });
        const f = behaviour.more?.[name] as ((...a: unknown[]) => Promise<unknown>) | undefined;
        if (f) return f(...args);
        if (name === 'deleteAdapters' || name === 'watchDeviceLost') return Promise.resolve();
        if (name === 'holdLifeLock') return Promise.resolve(null);
        return Promise.reject(new Error(`fakeEngine: ${name} is not scripted`));
      },
    ]),
  ) as unknown as Pick<EngineApi, AdapterMethod>;
  return {
    calls,
    getStatus: () => {
      calls.push({ method: 'getStatus' });
      return behaviour.getStatus ? behaviour.getStatus() : Promise.resolve(SWIFTSHADER_STATUS);
    },
    setHubOptions: async (options) => {
      calls.push({ method: 'setHubOptions', options });
    },
    listRepoFiles: (repo, options) => {
      calls.push({ method: 'listRepoFiles', repo, options });
      return behaviour.listRepoFiles ? behaviour.listRepoFiles(repo, options) : Promise.resolve([]);
    },
    inspectLora: (source, onProgress) => {
      calls.push({ method: 'inspectLora', source });
      if (behaviour.inspectLora) return behaviour.inspectLora(source, onProgress);
      return Promise.reject(new Error('fakeEngine: give an inspectLora behaviour to use it'));
    },
    listLoraFiles: (repo, options) => {
      calls.push({ method: 'listLoraFiles', repo, options });
      return behaviour.listLoraFiles ? behaviour.listLoraFiles(repo, options) : Promise.resolve([]);
    },
    searchLoras: (query) => {
      calls.push({ method: 'searchLoras', query });
      return behaviour.searchLoras ? behaviour.searchLoras(query) : Promise.resolve([]);
    },
    persistStorage: async () => false,
    getStorageEstimate: async () => null,
    cancel: async () => {},
    ...recorded,
  };
}
