/**
 * One compute pipeline per (kernel name, dtype, overrides) per device; shapes travel in the
 * `Params` uniform and never reach the key, so a new layer shape never compiles a pipeline.
 * WGSL compile errors become `LorafuseError('gpu-kernel')` naming the kernel, with the
 * compiler's line:column messages.
 */
import { LorafuseError } from '../../errors.ts';
import type { AnyKernel, OverrideValues } from './kernel.ts';

export interface CachedPipeline {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

export function pipelineKey(name: string, dtype: string, overrides: OverrideValues): string {
  const o = Object.keys(overrides)
    .sort()
    .map((k) => `${k}=${overrides[k]}`)
    .join(',');
  return `${name}|${dtype}|${o}`;
}

function gpuKernelError(kernel: string, what: string, details: Record<string, unknown>, cause?: unknown) {
  return new LorafuseError(
    'gpu-kernel',
    `Kernel "${kernel}" (${kernel}.wgsl): ${what}`,
    { kernel, ...details },
    {
      cause,
    },
  );
}

export class PipelineCache {
  readonly #device: GPUDevice;
  readonly #pipelines = new Map<string, Promise<CachedPipeline>>();
  readonly #layouts = new Map<string, GPUBindGroupLayout>();
  #compiled = 0;

  constructor(device: GPUDevice) {
    this.#device = device;
  }

  /** Pipelines compiled so far (tests check that a new shape adds none). */
  get compiled(): number {
    return this.#compiled;
  }

  get(kernel: AnyKernel, dtype: string, overrides: OverrideValues): Promise<CachedPipeline> {
    const dtypeOverrides = (kernel.dtypes as Record<string, OverrideValues | undefined>)[dtype];
    if (!dtypeOverrides) {
      const known = Object.keys(kernel.dtypes).join(', ');
      return Promise.reject(
        new LorafuseError(
          'invalid-argument',
          `Kernel "${kernel.name}" has no dtype "${dtype}" (it has: ${known}).`,
          {
            kernel: kernel.name,
            dtype,
          },
        ),
      );
    }
    const constants = { ...overrides, ...dtypeOverrides };
    const key = pipelineKey(kernel.name, dtype, constants);
    let entry = this.#pipelines.get(key);
    if (!entry) {
      entry = this.#compile(kernel, key, constants);
      this.#pipelines.set(key, entry);
      entry.catch(() => this.#pipelines.delete(key));
    }
    return entry;
  }

  #layout(kernel: AnyKernel): GPUBindGroupLayout {
    let layout = this.#layouts.get(kernel.name);
    if (!layout) {
      const entries: GPUBindGroupLayoutEntry[] = [
        { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
      ];
      for (const { binding, access } of kernel.storage) {
        entries.push({
          binding,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: access === 'read' ? 'read-only-storage' : 'storage' },
        });
      }
      layout = this.#device.createBindGroupLayout({ label: kernel.name, entries });
      this.#layouts.set(kernel.name, layout);
    }
    return layout;
  }

  async #compile(kernel: AnyKernel, key: string, constants: OverrideValues): Promise<CachedPipeline> {
    const device = this.#device;
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ label: kernel.name, code: kernel.source });
    const info = await module.getCompilationInfo();
    const scopeError = await device.popErrorScope();
    const errors = info.messages.filter((m) => m.type === 'error');
    if (errors.length > 0 || scopeError) {
      const lines = errors.map((m) => `line ${m.lineNum}:${m.linePos}: ${m.message}`);
      if (lines.length === 0 && scopeError) lines.push(scopeError.message);
      throw gpuKernelError(kernel.name, `WGSL does not compile:\n  ${lines.join('\n  ')}`, {
        messages: lines,
      });
    }
    const layout = this.#layout(kernel);
    // Synchronous creation inside error scopes: we run in a worker (blocking is harmless) and
    // Dawn-node's createComputePipelineAsync aborts the process on SwiftShader for larger shaders.
    device.pushErrorScope('internal');
    device.pushErrorScope('validation');
    const pipeline = device.createComputePipeline({
      label: key,
      layout: device.createPipelineLayout({ label: kernel.name, bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: kernel.entryPoint, constants: { ...constants } },
    });
    const validation = await device.popErrorScope();
    const internal = await device.popErrorScope();
    const failure = validation ?? internal;
    if (failure) {
      throw gpuKernelError(kernel.name, `pipeline creation failed for ${key}: ${failure.message}`, { key });
    }
    this.#compiled++;
    return { pipeline, layout };
  }
}

const caches = new WeakMap<GPUDevice, PipelineCache>();

/** The pipeline cache of a device (one per device, created on first use). */
export function pipelineCacheFor(device: GPUDevice): PipelineCache {
  let cache = caches.get(device);
  if (!cache) {
    cache = new PipelineCache(device);
    caches.set(device, cache);
  }
  return cache;
}
