/**
 * The adapter manager on the wasm path: effective weights go into the networks' sessions as CPU
 * tensors (`NetworkSession.setWeight`, no session is recreated), and base weights are read from
 * what the sessions were given at model load.
 */
import * as ort from 'onnxruntime-web';
import { LorafuseError } from '../../../errors.ts';
import type { NetworkSession } from '../../graph/runner/session.ts';
import type { Component, F32Tensor } from '../../lora/adapter.ts';
import type { BaseParams } from '../../lora/merge-cpu.ts';
import { loraTarget } from '../../lora/target.ts';
import { AdapterManager, type AdapterManagerOptions } from '../adapters.ts';
import type { LoadedModel } from '../model.ts';
import type { WeightSink } from './weight-store.ts';

export type ComponentSessions = Partial<Record<Component, NetworkSession>>;

/** The session of `component`; an error naming it when the model has none. */
export function sessionOf(sessions: ComponentSessions, component: Component): NetworkSession {
  const s = sessions[component];
  if (!s) {
    throw new LorafuseError(
      'invalid-argument',
      `no ${component} network is loaded, but an adapter targets it.`,
      {
        component,
      },
    );
  }
  return s;
}

/**
 * Writes effective weights into the sessions. The store alternates two effective arrays per module,
 * so one `ort.Tensor` is kept per array (a per-step schedule makes no tensor objects). The session
 * copies a CPU weight into onnxruntime's wasm memory at every run whether or not it changed, so a
 * kept tensor saves only the object (bench/step-profile.ts: no measurable effect on the forward).
 */
export function sessionSink(sessions: ComponentSessions): WeightSink {
  const tensors = new WeakMap<Float32Array, ort.Tensor>();
  const tensorOf = (t: F32Tensor): ort.Tensor => {
    let out = tensors.get(t.data);
    if (!out || out.dims.length !== t.shape.length || out.dims.some((d, i) => d !== t.shape[i])) {
      out = new ort.Tensor('float32', t.data, t.shape);
      tensors.set(t.data, out);
    }
    return out;
  };
  return {
    write(component, module, params) {
      const s = sessionOf(sessions, component);
      s.setWeight(`${module}.weight`, tensorOf(params.weight));
      if (params.bias) s.setWeight(`${module}.bias`, tensorOf(params.bias));
    },
  };
}

function cpuTensor(s: NetworkSession, name: string): F32Tensor | undefined {
  const t = s.getWeight(name);
  if (!t) return undefined;
  if (t.location !== 'cpu' || t.type !== 'float32') {
    throw new LorafuseError(
      'not-implemented',
      `${s.def.name}: weight '${name}' is a ${t.type} ${t.location} tensor; the CPU adapter path reads float32 CPU weights.`,
      { network: s.def.name, weight: name },
    );
  }
  return { shape: [...t.dims], data: t.data as Float32Array };
}

/**
 * Base weights as the sessions hold them before any adapter touched the module (the manager reads
 * a module only while no adapter has written it).
 */
export function sessionBaseSource(sessions: ComponentSessions): {
  read(c: Component, m: string): BaseParams;
  stateDict(c: Component): Map<string, F32Tensor> | undefined;
} {
  return {
    /** Every weight the component's network runs, as the session holds it now. */
    stateDict(component) {
      const s = sessions[component];
      if (!s) return undefined;
      const out = new Map<string, F32Tensor>();
      for (const w of s.def.weights) {
        const t = cpuTensor(s, w.name);
        if (!t) {
          throw new LorafuseError(
            'invalid-argument',
            `${s.def.name}: no weight '${w.name}' is set; load the model's weights first.`,
            { network: s.def.name, weight: w.name },
          );
        }
        out.set(w.name, t);
      }
      return out;
    },
    read(component, module) {
      const s = sessionOf(sessions, component);
      const weight = cpuTensor(s, `${module}.weight`);
      if (!weight) {
        throw new LorafuseError(
          'invalid-argument',
          `${s.def.name}: no weight '${module}.weight' is set; load the model's weights before its adapters.`,
          { network: s.def.name, module },
        );
      }
      const bias = cpuTensor(s, `${module}.bias`);
      return bias ? { weight, bias } : { weight };
    },
  };
}

/** The sessions of a loaded model an adapter can target (the UNet and the text encoders). */
export function modelSessions(model: LoadedModel): ComponentSessions {
  const out: ComponentSessions = { unet: model.unet };
  for (const te of model.textEncoders) out[te.name] = te.session;
  return out;
}

/**
 * An adapter manager on a loaded model's sessions (wasm path): its target from the model's
 * configs, base weights read from and effective weights written into the sessions.
 */
export function sessionAdapterManager(
  model: LoadedModel,
  options: Pick<AdapterManagerOptions, 'openRepo' | 'merge'> = {},
): AdapterManager {
  const sessions = modelSessions(model);
  const c = model.configs;
  return new AdapterManager({
    ...options,
    target: loraTarget(model.describe, {
      unet: c.unet,
      textEncoder: c.textEncoder,
      textEncoder2: c.textEncoder2,
    }),
    base: sessionBaseSource(sessions),
    sinks: [sessionSink(sessions)],
  });
}
