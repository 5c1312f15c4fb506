/**
 * How the engine opens a model for generation: which backend the networks run on and which adapter
 * manager keeps their weights. One place, so the engine's request handling does not depend on it.
 */
import type { ModelSource } from '../io/model-source.ts';
import { sessionAdapterManager } from '../pipeline/adapters/session-sink.ts';
import type { AdapterManager } from '../pipeline/adapters.ts';
import { type LoadedModel, loadModel } from '../pipeline/model.ts';

export interface ModelRuntime {
  model: LoadedModel;
  adapters: AdapterManager;
  backend: 'wasm' | 'webgpu';
}

/** Loads `src` and its adapter manager (wasm backend, CPU merges into the sessions). */
export async function openModelRuntime(src: ModelSource): Promise<ModelRuntime> {
  const model = await loadModel(src);
  return { model, adapters: sessionAdapterManager(model), backend: 'wasm' };
}
