/**
 * The one implementation of `EngineApi`. Framework-free (no React, no comlink): it runs in the
 * worker, and in Node for tests. Dependencies that differ between those places are injected.
 */
import type {
  EngineApi,
  EngineStatus,
  HubOptions,
  ListRepoFilesOptions,
  RepoFile,
  WebGpuStatus,
} from '../../api.ts';
import { probeWebGpu } from '../gpu/device.ts';
import { listRepoFiles } from '../io/hub.ts';
import { normalizeHubUrl } from './hub-url.ts';

export interface EngineDeps {
  /** The WebGPU entry point; defaults to `navigator.gpu` of the worker (absent in Node). */
  gpu?: GPU | undefined;
  /** Used for every Hub request; defaults to the global `fetch`. */
  fetch?: typeof fetch;
}

export function createEngine(deps: EngineDeps = {}): EngineApi {
  const gpu = 'gpu' in deps ? deps.gpu : globalThis.navigator?.gpu;
  let hub: HubOptions | undefined;
  let status: Promise<EngineStatus> | undefined;

  return {
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
        ...(hub?.hubUrl ? { hubUrl: hub.hubUrl } : {}),
        ...(hub?.token ? { token: hub.token } : {}),
        ...(options.revision ? { revision: options.revision } : {}),
        ...(deps.fetch ? { fetch: deps.fetch } : {}),
      });
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
