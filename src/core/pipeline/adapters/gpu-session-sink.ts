/**
 * The adapter manager on the WebGPU path: base weights are the GPUBuffers the sessions were given
 * at model load (`loadModel` with a 'webgpu' session), merges run in the GPU store
 * (gpu-weights.ts), and each module's `<module>.weight` / `.bias` graph inputs are bound to the
 * store's effective buffers while it has live terms and to its base buffers otherwise
 * (`NetworkSession.setWeightBuffer`, no session recreated, no weight copied to the CPU).
 */
import type * as ort from 'onnxruntime-web';
import { LorafuseError } from '../../../errors.ts';
import { readWeightValues } from '../../gpu/read-buffer.ts';
import type { WeightDtype } from '../../gpu/weight-words.ts';
import type { NetworkSession } from '../../graph/runner/session.ts';
import type { F32Tensor } from '../../lora/adapter.ts';
import type { BaseParams } from '../../lora/merge-cpu.ts';
import { loraTarget } from '../../lora/target.ts';
import { AdapterManager, type AdapterManagerOptions } from '../adapters.ts';
import type { LoadedModel } from '../model.ts';
import type { ModuleBase } from './adapter-store.ts';
import type { StateDictReader } from './export-fused.ts';
import { type GpuBaseSource, type GpuBindingSink, GpuWeightStore } from './gpu-weights.ts';
import { type ComponentSessions, modelSessions, sessionOf } from './session-sink.ts';

export type GpuComponentSessions = ComponentSessions;

export function sessionBindingSink(sessions: GpuComponentSessions): GpuBindingSink {
  return {
    bind(component, module, params, dtype) {
      const s = sessionOf(sessions, component);
      const type = dtype === 'f16' ? 'float16' : 'float32';
      s.setWeightBuffer(`${module}.weight`, params.weight, type);
      if (params.bias) s.setWeightBuffer(`${module}.bias`, params.bias, type);
    },
  };
}

function dtypeOf(t: ort.Tensor, where: string): WeightDtype {
  if (t.type === 'float32') return 'f32';
  if (t.type === 'float16') return 'f16';
  throw new LorafuseError(
    'not-implemented',
    `${where} is ${t.type}; the GPU adapter path merges float32 or float16 weights.`,
    {
      weight: where,
    },
  );
}

/** A weight as the session holds it: its GPU buffer, or a CPU tensor (float32 only). */
function weightOf(s: NetworkSession, name: string): ort.Tensor {
  const t = s.getWeight(name);
  if (!t) {
    throw new LorafuseError(
      'invalid-argument',
      `${s.def.name}: no weight '${name}' is set; load the model's weights before its adapters.`,
      { network: s.def.name, weight: name },
    );
  }
  return t;
}

/**
 * Base weights as the sessions hold them before any adapter touched the module (the manager reads
 * a module only while no adapter has bound it): the sessions' own GPU buffers, used in place.
 */
export function sessionGpuBaseSource(sessions: GpuComponentSessions): GpuBaseSource {
  return {
    read(component, module): ModuleBase {
      const s = sessionOf(sessions, component);
      const weight = weightOf(s, `${module}.weight`);
      const bias = s.getWeight(`${module}.bias`);
      const where = `${s.def.name}: '${module}.weight'`;
      if (weight.location === 'gpu-buffer' && (!bias || bias.location === 'gpu-buffer')) {
        return {
          params: bias ? { weight: weight.gpuBuffer, bias: bias.gpuBuffer } : { weight: weight.gpuBuffer },
          dtype: dtypeOf(weight, where),
          weightShape: [...weight.dims],
          ...(bias ? { biasCount: bias.dims.reduce((a, b) => a * b, 1) } : {}),
        };
      }
      if (weight.location !== 'cpu' || weight.type !== 'float32' || (bias && bias.type !== 'float32')) {
        throw new LorafuseError(
          'not-implemented',
          `${where} is a ${weight.type} ${weight.location} tensor; the GPU adapter path takes the session's GPU buffers (load the model with a 'webgpu' session) or float32 CPU tensors.`,
          { network: s.def.name, weight: `${module}.weight` },
        );
      }
      const cpu = (t: ort.Tensor): F32Tensor => ({ shape: [...t.dims], data: t.data as Float32Array });
      const out: BaseParams = bias ? { weight: cpu(weight), bias: cpu(bias) } : { weight: cpu(weight) };
      return out;
    },
  };
}

/** Every weight of a component's network, read back from its session as float32 (for exports). */
export function sessionGpuStateDict(sessions: GpuComponentSessions, device: GPUDevice): StateDictReader {
  return async (component) => {
    const s = sessions[component];
    if (!s) return undefined;
    const out = new Map<string, F32Tensor>();
    for (const w of s.def.weights) {
      const t = weightOf(s, w.name);
      const count = t.dims.reduce((a, b) => a * b, 1);
      const data =
        t.location === 'gpu-buffer'
          ? await readWeightValues(device, t.gpuBuffer, dtypeOf(t, `${s.def.name}: '${w.name}'`), count)
          : Float32Array.from(t.data as ArrayLike<number>);
      out.set(w.name, { shape: [...t.dims], data });
    }
    return out;
  };
}

export interface GpuAdapterManager {
  manager: AdapterManager;
  store: GpuWeightStore;
}

/**
 * An adapter manager on a loaded model's WebGPU sessions (`device` is the one the sessions' weight
 * buffers live on): its target from the model's configs, its GPU store bound into the sessions.
 * Destroy `store` after the model is released.
 */
export function gpuAdapterManager(
  model: LoadedModel,
  device: GPUDevice,
  options: Pick<AdapterManagerOptions, 'openRepo'> = {},
): GpuAdapterManager {
  const sessions = modelSessions(model);
  const store = new GpuWeightStore(device, { base: sessionGpuBaseSource(sessions) });
  store.addSink(sessionBindingSink(sessions));
  const c = model.configs;
  const manager = new AdapterManager({
    ...options,
    target: loraTarget(model.describe, {
      unet: c.unet,
      textEncoder: c.textEncoder,
      textEncoder2: c.textEncoder2,
    }),
    store,
    stateDict: sessionGpuStateDict(sessions, device),
  });
  return { manager, store };
}
