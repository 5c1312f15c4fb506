/**
 * The adapter manager behind the WebGPU case page's LoRA state ops: the ONE place that chooses it,
 * so switching the page to another manager changes nothing else. Today: the GPU weight store
 * (`gpuAdapterManager`: merges in the WGSL kernels on the page's device, each module's graph
 * inputs bound to the store's buffers). The CPU-merge manager (`sessionAdapterManager`) cannot
 * serve these cases: a WebGPU model keeps its weights in GPUBuffers, which it does not read.
 */
import { type ManagerStateOps, managerStateOps } from '../../src/core/pipeline/adapters/case-state-ops.ts';
import { gpuAdapterManager } from '../../src/core/pipeline/adapters/gpu-session-sink.ts';

export interface PageStateOps {
  ops: ManagerStateOps;
  /** Which manager, in words (sent back to the test). */
  kind: string;
  /** Frees what the manager allocated on the device; after the case has released its model. */
  release(): void;
}

export function pageStateOps(device: GPUDevice): PageStateOps {
  const stores: { destroy(): void }[] = [];
  const ops = managerStateOps({
    createManager(model, openRepo) {
      const { manager, store } = gpuAdapterManager(model, device, { openRepo });
      stores.push(store);
      return manager;
    },
  });
  return {
    ops,
    kind: 'gpu-store',
    release() {
      for (const s of stores.splice(0)) s.destroy();
    },
  };
}
