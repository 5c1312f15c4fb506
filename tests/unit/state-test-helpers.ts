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

export interface FakeEngine extends EngineApi {
  calls: Array<
    | { method: 'getStatus' }
    | { method: 'setHubOptions'; options: HubOptions }
    | { method: 'listRepoFiles'; repo: string; options: ListRepoFilesOptions | undefined }
    | { method: 'inspectLora'; source: LoraFileSource }
    | { method: 'listLoraFiles'; repo: string; options: ListRepoFilesOptions | undefined }
    | { method: 'searchLoras'; query: LoraSearchQuery }
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
  } = {},
): FakeEngine {
  const calls: FakeEngine['calls'] = [];
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
    loadModel: () => Promise.reject(new Error('fakeEngine: loadModel is not scripted')),
    generate: () => Promise.reject(new Error('fakeEngine: generate is not scripted')),
    cancel: async () => {},
  };
}
