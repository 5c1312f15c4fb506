/**
 * The engine's model and text-to-image half: loads a Hub model (per-file byte progress), keeps the
 * adapter manager in step with the adapters a request names (loading from the bytes `inspectLora`
 * already read), applies per-step schedules before each step, previews each step and cancels.
 * Networks run on onnxruntime-web's wasm backend: the adapter manager's one weight sink writes CPU
 * tensors into the sessions (adapters/session-sink.ts); WebGPU sessions wait for a GPU sink.
 */
import type {
  EngineGenerateRequest,
  EngineGenerateResult,
  GenerateStep,
  LoadedModelInfo,
  ModelLoadProgress,
  ModelRef,
} from '../../api.ts';
import { LorafuseError } from '../../errors.ts';
import type { HubOptions } from '../io/hub.ts';
import { HubModelSource } from '../io/hub-model-source.ts';
import type { AdapterManager } from '../pipeline/adapters.ts';
import { defaultSize, generate } from '../pipeline/generate.ts';
import { latentPreview } from '../pipeline/latent-preview.ts';
import type { LoadedModel } from '../pipeline/model.ts';
import { stepAdapterWeights } from '../pipeline/step-weights.ts';
import { openModelRuntime } from './model-runtime.ts';

export interface GenerationEngineDeps {
  /** Hub endpoint, token, fetch and cache of the engine. */
  hub(): HubOptions;
  /** The bytes of LoRA files read so far, by `LoraSummary.file`. */
  loraBytes: ReadonlyMap<string, Uint8Array>;
  /** Marks buffers to move rather than copy across the worker boundary (Comlink.transfer). */
  transfer?: <T>(value: T, buffers: Transferable[]) => T;
}

export interface GenerationEngine {
  loadModel(ref: ModelRef, onProgress?: (p: ModelLoadProgress) => void): Promise<LoadedModelInfo>;
  generate(
    request: EngineGenerateRequest,
    onStep?: (s: GenerateStep) => unknown,
  ): Promise<EngineGenerateResult>;
  cancel(): Promise<void>;
}

/** Lets queued messages (a `cancel()`) run between steps. */
const yieldToMessages = () => new Promise<void>((r) => setTimeout(r, 0));

export function createGenerationEngine(deps: GenerationEngineDeps): GenerationEngine {
  let model: LoadedModel | undefined;
  let manager: AdapterManager | undefined;
  /** adapterName -> file loaded under it. */
  const loaded = new Map<string, string>();
  let running: AbortController | undefined;
  const transfer = deps.transfer ?? (<T>(v: T) => v);

  async function syncAdapters(m: AdapterManager, adapters: EngineGenerateRequest['adapters']): Promise<void> {
    const wanted = new Map(adapters.map((a) => [a.adapterName, a.file]));
    const stale = [...loaded].filter(([name, file]) => wanted.get(name) !== file).map(([name]) => name);
    if (stale.length > 0) {
      await m.deleteAdapters(stale);
      for (const n of stale) loaded.delete(n);
    }
    for (const [name, file] of wanted) {
      if (loaded.has(name)) continue;
      const bytes = deps.loraBytes.get(file);
      if (!bytes) {
        throw new LorafuseError(
          'invalid-argument',
          `The engine no longer holds ${file} (adapter "${name}"); remove the LoRA and add it again.`,
          { adapterName: name, file },
        );
      }
      await m.loadLoraWeights({ bytes, name: file }, { adapterName: name });
      loaded.set(name, file);
    }
  }

  return {
    async loadModel(ref, onProgress) {
      if (running)
        throw new LorafuseError(
          'invalid-argument',
          'A generation is running; cancel it before loading a model.',
        );
      const src = new HubModelSource(ref.repo, {
        ...deps.hub(),
        ...(ref.revision ? { revision: ref.revision } : {}),
        ...(onProgress
          ? { onProgress: (p) => onProgress({ file: p.path, loaded: p.loaded, total: p.total }) }
          : {}),
      });
      const old = model;
      model = undefined;
      manager = undefined;
      loaded.clear();
      await old?.release();
      const runtime = await openModelRuntime(src);
      const m = runtime.model;
      const [height, width] = defaultSize(m);
      model = m;
      manager = runtime.adapters;
      return {
        repo: ref.repo,
        family: m.family,
        width,
        height,
        sizeMultiple: m.vaeScaleFactor,
        backend: runtime.backend,
      };
    },

    async generate(req, onStep) {
      if (!model || !manager) {
        throw new LorafuseError(
          'invalid-argument',
          'No model is loaded: load a model in the Model panel first.',
        );
      }
      if (running)
        throw new LorafuseError('invalid-argument', 'A generation is already running; wait or cancel it.');
      const m = model;
      const adapters = manager;
      const controller = new AbortController();
      running = controller;
      const started = performance.now();
      try {
        await syncAdapters(adapters, req.adapters);
        const plan = req.adapters.map((a) => ({
          name: a.adapterName,
          weight: a.weight,
          schedule: a.schedule,
        }));
        const names = plan.map((p) => p.name);
        let applied = '';
        const setWeights = async (step: number) => {
          if (names.length === 0) return;
          const weights = stepAdapterWeights(plan, req.scale, step, req.steps);
          const key = JSON.stringify(weights);
          if (key === applied) return;
          await adapters.setAdapters(names, weights);
          applied = key;
        };
        await setWeights(0);
        const result = await generate(
          m,
          {
            prompt: req.prompt,
            negativePrompt: req.negativePrompt,
            steps: req.steps,
            guidanceScale: req.guidanceScale,
            seed: req.seed,
            width: req.width,
            height: req.height,
            scheduler: req.scheduler ? { kind: req.scheduler } : {},
          },
          {
            signal: controller.signal,
            onStep: async ({ step, steps, latents }) => {
              const preview = latentPreview(latents, [
                1,
                m.unetConfig.inChannels,
                req.height / m.vaeScaleFactor,
                req.width / m.vaeScaleFactor,
              ]);
              await onStep?.(transfer({ step, steps, preview }, [preview.rgba.buffer]));
              await yieldToMessages();
              if (step + 1 < steps && !controller.signal.aborted) await setWeights(step + 1);
            },
          },
        );
        const image = result.image;
        if (!image) throw new LorafuseError('internal', 'generate returned no image.');
        const rgba = new Uint8ClampedArray(image.rgba.buffer, image.rgba.byteOffset, image.rgba.byteLength);
        const { scheduler: _asked, ...rest } = req;
        return transfer(
          {
            image: { width: image.width, height: image.height, rgba },
            params: { ...rest, scheduler: result.schedulerKind },
            seconds: (performance.now() - started) / 1000,
          },
          [rgba.buffer],
        );
      } finally {
        running = undefined;
      }
    },

    async cancel() {
      running?.abort();
    },
  };
}
