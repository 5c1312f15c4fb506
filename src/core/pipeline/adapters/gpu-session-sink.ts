/**
 * The GPU weight store's bindings into the networks' sessions (webgpu path): each module's
 * `<module>.weight` / `.bias` graph inputs read the store's effective buffers while it has live
 * terms and its base buffers otherwise (`NetworkSession.setWeightBuffer`, no session recreated).
 */
import { LorafuseError } from '../../../errors.ts';
import type { NetworkSession } from '../../graph/runner/session.ts';
import type { Component } from '../../lora/adapter.ts';
import type { GpuBindingSink } from './gpu-weights.ts';

export type GpuComponentSessions = Partial<Record<Component, NetworkSession>>;

export function sessionBindingSink(sessions: GpuComponentSessions): GpuBindingSink {
  return {
    bind(component, module, params, dtype) {
      const s = sessions[component];
      if (!s) {
        throw new LorafuseError(
          'invalid-argument',
          `no ${component} network is loaded, but an adapter targets it.`,
          { component },
        );
      }
      const type = dtype === 'f16' ? 'float16' : 'float32';
      s.setWeightBuffer(`${module}.weight`, params.weight, type);
      if (params.bias) s.setWeightBuffer(`${module}.bias`, params.bias, type);
    },
  };
}
