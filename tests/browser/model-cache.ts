/**
 * One loaded model per fixture model folder for the whole case page, reset to its freshly loaded
 * state between cases. A case starts from a freshly loaded pipeline (tests/fixtures/README.md); on
 * WebGPU a model's state is only which GPUBuffer each weight input of each session is bound to
 * and what those buffers hold (the ORT sessions keep nothing between runs), so after loading, each
 * weight buffer is copied aside on the GPU, and `reset` binds every weight input back to its own
 * buffer and copies the saved contents back in. That replaces a model load per case (ORT session
 * creation and weight upload; seconds each on SwiftShader) with a GPU copy of a few MB.
 */
import type { NetworkSession } from '../../src/core/graph/runner/session.ts';
import type { ModelSource } from '../../src/core/io/model-source.ts';
import { type LoadedModel, loadModel } from '../../src/core/pipeline/model.ts';
import { sessionProviders } from './session-providers.ts';

interface SavedWeight {
  buffer: GPUBuffer;
  copy: GPUBuffer;
  dtype: 'float32' | 'float16';
}

export interface CachedModel {
  model: LoadedModel;
  /** `executionProviders` of the ORT sessions its load created. */
  providers: string[][];
  /** Binds every weight back to the buffer it was loaded into, with the contents it was loaded with. */
  reset(): void;
  /** Weight inputs not bound to their own buffer now (none after `reset`). */
  rebound(): string[];
}

function sessionsOf(model: LoadedModel): [string, NetworkSession][] {
  return [
    ['unet', model.unet],
    ['vae', model.vae],
    ...model.textEncoders.map((te) => [te.name, te.session] as [string, NetworkSession]),
  ];
}

async function cache(model: LoadedModel, providers: string[][], device: GPUDevice): Promise<CachedModel> {
  const saved = new Map<NetworkSession, Map<string, SavedWeight>>();
  const encoder = device.createCommandEncoder({ label: 'case-page:save-weights' });
  for (const [component, session] of sessionsOf(model)) {
    const weights = new Map<string, SavedWeight>();
    for (const spec of session.def.weights) {
      const t = session.getWeight(spec.name);
      if (t?.location !== 'gpu-buffer' || (t.type !== 'float32' && t.type !== 'float16')) {
        throw new Error(
          `${component} weight ${spec.name} is not a float GPU buffer (${t?.type} ${t?.location})`,
        );
      }
      const buffer = t.gpuBuffer;
      const copy = device.createBuffer({
        label: `saved:${component}:${spec.name}`,
        size: buffer.size,
        usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      });
      encoder.copyBufferToBuffer(buffer, 0, copy, 0, buffer.size);
      weights.set(spec.name, { buffer, copy, dtype: t.type });
    }
    saved.set(session, weights);
  }
  device.queue.submit([encoder.finish()]);
  await device.queue.onSubmittedWorkDone();
  return {
    model,
    providers,
    reset() {
      const enc = device.createCommandEncoder({ label: 'case-page:reset-weights' });
      for (const [session, weights] of saved) {
        for (const [name, w] of weights) {
          if (session.getWeight(name)?.gpuBuffer !== w.buffer)
            session.setWeightBuffer(name, w.buffer, w.dtype);
          enc.copyBufferToBuffer(w.copy, 0, w.buffer, 0, w.buffer.size);
        }
      }
      device.queue.submit([enc.finish()]);
    },
    rebound() {
      const out: string[] = [];
      for (const [session, weights] of saved) {
        for (const [name, w] of weights) {
          if (session.getWeight(name)?.gpuBuffer !== w.buffer) out.push(`${session.def.name}:${name}`);
        }
      }
      return out;
    },
  };
}

/** Loaded models by folder, each loaded once on the page's device. */
export class ModelCache {
  readonly #models = new Map<string, Promise<CachedModel>>();

  constructor(private readonly device: GPUDevice) {}

  get(path: string, src: ModelSource): Promise<CachedModel> {
    let m = this.#models.get(path);
    if (!m) {
      const before = sessionProviders.length;
      m = loadModel(src, { session: { backend: 'webgpu', device: this.device } }).then((model) =>
        cache(model, sessionProviders.slice(before), this.device),
      );
      this.#models.set(path, m);
      m.catch(() => this.#models.delete(path));
    }
    return m;
  }
}
