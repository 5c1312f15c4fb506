/**
 * How the engine opens a model for generation: which backend the networks run on and which adapter
 * manager keeps their weights. One place, so the engine's request handling does not depend on it.
 * - WebGPU when a device can be made (DESIGN.md decision 1): weights in GPUBuffers we own, float16
 *   storage when the device has shader-f16, LoRA merges by the WGSL kernels in the GPU store,
 *   bound into the sessions as graph inputs.
 * - wasm otherwise (or when asked): CPU merges (wasm SIMD) written into the sessions.
 */
import { LorafuseError } from '../../errors.ts';
import { type CreatedDevice, createDevice } from '../gpu/device.ts';
import { chooseWeightDtype } from '../graph/runner/weight-dtype.ts';
import type { ModelSource } from '../io/model-source.ts';
import { createMergeBackend } from '../lora/merge-fast/create-backend.ts';
import { gpuAdapterManager } from '../pipeline/adapters/gpu-session-sink.ts';
import { sessionAdapterManager } from '../pipeline/adapters/session-sink.ts';
import type { AdapterManager } from '../pipeline/adapters.ts';
import { type LoadedModel, loadModel } from '../pipeline/model.ts';

export type RuntimeBackend = 'wasm' | 'webgpu';

export interface ModelRuntime {
  /** `release()` also frees the adapter manager's GPU buffers. */
  model: LoadedModel;
  adapters: AdapterManager;
  backend: RuntimeBackend;
  /** Why this backend, in words the UI can show. */
  backendReason: string;
}

export interface ModelRuntimeOptions {
  /** The WebGPU entry point (default `navigator.gpu`; absent in Node). */
  gpu?: GPU | undefined;
  /** 'auto' (default): WebGPU when a device can be made, else wasm. */
  backend?: 'auto' | RuntimeBackend;
  /** Called once if the GPU device is lost (the engine must then be restarted). */
  onDeviceLost?: (error: LorafuseError) => void;
}

/**
 * One device per WebGPU entry point: onnxruntime-web keeps the first device it is given for the
 * whole JS realm (graph/runner/ort-device.ts), so every model of an engine shares it. A lost
 * device is forgotten, and the next open reports that the engine must restart.
 */
const devices = new WeakMap<GPU, Promise<CreatedDevice>>();
const lostDevices = new WeakMap<GPU, LorafuseError>();
/** Everyone who asked to hear of the device's loss (each engine of the realm). */
const lostListeners = new WeakMap<GPU, Set<(e: LorafuseError) => void>>();

export function deviceFor(
  gpu: GPU,
  onLost: ((e: LorafuseError) => void) | undefined,
): Promise<CreatedDevice> {
  const lost = lostDevices.get(gpu);
  if (lost) {
    throw new LorafuseError(
      'device-lost',
      `${lost.message} Restart the engine (or reload the page) to run on a new device.`,
      lost.details,
    );
  }
  let listeners = lostListeners.get(gpu);
  if (!listeners) {
    listeners = new Set();
    lostListeners.set(gpu, listeners);
  }
  if (onLost) listeners.add(onLost);
  let created = devices.get(gpu);
  if (!created) {
    const notify = listeners;
    created = createDevice(gpu, {
      label: 'lorafuse',
      onLost: (e) => {
        lostDevices.set(gpu, e);
        for (const f of notify) f(e);
      },
    });
    devices.set(gpu, created);
    created.catch(() => devices.delete(gpu));
  }
  return created;
}

/** `model`, whose `release()` then also runs `after` (what the runtime made for it). */
function alsoReleasing(model: LoadedModel, after: () => Promise<void>): LoadedModel {
  return {
    ...model,
    session: model.session.bind(model),
    async release() {
      await model.release();
      await after();
    },
  };
}

/** Loads `src` with its adapter manager on the chosen backend. */
export async function openModelRuntime(
  src: ModelSource,
  options: ModelRuntimeOptions = {},
): Promise<ModelRuntime> {
  const want = options.backend ?? 'auto';
  const gpu = 'gpu' in options ? options.gpu : globalThis.navigator?.gpu;
  if (want !== 'wasm') {
    if (gpu) {
      let created: CreatedDevice | undefined;
      try {
        created = await deviceFor(gpu, options.onDeviceLost);
      } catch (e) {
        if (want === 'webgpu' || (e instanceof LorafuseError && e.code === 'device-lost')) throw e;
      }
      if (created) return openOnWebGpu(src, created);
    } else if (want === 'webgpu') {
      throw new LorafuseError(
        'webgpu-unavailable',
        'WebGPU was asked for, but this context has no navigator.gpu.',
      );
    }
  }
  const model = await loadModel(src);
  // One thread: the merge runs between ORT's steps, and helpers would compete with ORT's own.
  const merge = await createMergeBackend({ threads: 1 }).catch(() => undefined);
  const adapters = sessionAdapterManager(model, merge ? { merge } : {});
  return {
    model: alsoReleasing(model, async () => {
      await merge?.dispose();
    }),
    adapters,
    backend: 'wasm',
    backendReason: gpu
      ? 'WebGPU could not create a device here; the networks run on the CPU (wasm).'
      : 'WebGPU is not available here; the networks run on the CPU (wasm).',
  };
}

async function openOnWebGpu(src: ModelSource, created: CreatedDevice): Promise<ModelRuntime> {
  const { device, status } = created;
  const weightDType = chooseWeightDtype(device);
  const model = await loadModel(src, {
    session: {
      backend: 'webgpu',
      device,
      // Errors only: ORT warns at every session that it placed shape computations on the CPU
      // (expected: compute nodes all run on WebGPU, tests/e2e/numeric-webgpu checks it).
      logSeverityLevel: 3,
    },
    weightDType,
  });
  const { manager, store } = gpuAdapterManager(model, device);
  const adapter = [status.adapter.vendor, status.adapter.description].filter(Boolean).join(' ');
  return {
    model: alsoReleasing(model, async () => store.destroy()),
    adapters: manager,
    backend: 'webgpu',
    backendReason: `WebGPU on ${adapter || 'the GPU'}, ${weightDType} weights; LoRA merges run in WGSL kernels.`,
  };
}
