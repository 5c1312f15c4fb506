/**
 * The engine's model and text-to-image half: loads a Hub model (per-file byte progress), keeps the
 * adapter manager in step with the adapters a request names (adapter-ops.ts: loading from the bytes
 * `inspectLora` already read, hotswapping, keeping fused adapters fused), applies per-step schedules
 * before each step, previews each step and cancels; fuse, unfuse, merge, save and delete between
 * generations.
 * Networks run on onnxruntime-web's wasm backend: the adapter manager's one weight sink writes CPU
 * tensors into the sessions (adapters/session-sink.ts); WebGPU sessions wait for a GPU sink.
 */
import type {
  AdapterFileFormat,
  AdapterRef,
  EngineGenerateRequest,
  EngineGenerateResult,
  FuseRequest,
  GenerateStep,
  LoadedModelInfo,
  MergeRequest,
  ModelLoadProgress,
  ModelRef,
} from '../../api.ts';
import { LorafuseError } from '../../errors.ts';
import type { HubOptions } from '../io/hub.ts';
import { HubModelSource } from '../io/hub-model-source.ts';
import type { Component } from '../lora/adapter.ts';
import { defaultSize, generate } from '../pipeline/generate.ts';
import { latentPreview } from '../pipeline/latent-preview.ts';
import type { LoadedModel } from '../pipeline/model.ts';
import { stepAdapterWeights } from '../pipeline/step-weights.ts';
import { EngineAdapters } from './adapter-ops.ts';
import type { LoraByteCache } from './lora-byte-cache.ts';
import { openModelRuntime } from './model-runtime.ts';

export interface GenerationEngineDeps {
  /** Hub endpoint, token, fetch and cache of the engine. */
  hub(): HubOptions;
  /** The bytes of LoRA files read so far, by `LoraSummary.file` (merged adapters add theirs). */
  loraBytes: LoraByteCache;
  /** Marks buffers to move rather than copy across the worker boundary (Comlink.transfer). */
  transfer?: <T>(value: T, buffers: Transferable[]) => T;
  /** The WebGPU entry point models open on (absent: wasm). */
  gpu?: GPU | undefined;
  /** Called once when the GPU device of a loaded model is lost. */
  onDeviceLost?: (error: LorafuseError) => void;
}

export interface GenerationEngine {
  loadModel(ref: ModelRef, onProgress?: (p: ModelLoadProgress) => void): Promise<LoadedModelInfo>;
  generate(
    request: EngineGenerateRequest,
    onStep?: (s: GenerateStep) => unknown,
  ): Promise<EngineGenerateResult>;
  cancel(): Promise<void>;
  fuseLora(request: FuseRequest): Promise<string[]>;
  unfuseLora(): Promise<void>;
  /** The merged adapter's file key and PEFT bytes (also kept in `loraBytes`). */
  addWeightedAdapter(request: MergeRequest): Promise<{ file: string; bytes: Uint8Array }>;
  saveLoraAdapter(ref: AdapterRef, format: AdapterFileFormat): Promise<Uint8Array>;
  deleteAdapters(names: string[]): Promise<void>;
  exportFusedWeights(component: Component): Promise<Uint8Array>;
}

/** Lets queued messages (a `cancel()`) run between steps. */
const yieldToMessages = () => new Promise<void>((r) => setTimeout(r, 0));

export function createGenerationEngine(deps: GenerationEngineDeps): GenerationEngine {
  let model: LoadedModel | undefined;
  let adapters: EngineAdapters | undefined;
  let running: AbortController | undefined;
  const transfer = deps.transfer ?? (<T>(v: T) => v);

  /** The loaded model's adapters, for an operation that must not overlap a generation. */
  const idleAdapters = (op: string): EngineAdapters => {
    if (!adapters) {
      throw new LorafuseError(
        'invalid-argument',
        `${op} needs a model: load one in the Generate panel first.`,
      );
    }
    if (running) {
      throw new LorafuseError('invalid-argument', `A generation is running; wait or cancel it before ${op}.`);
    }
    return adapters;
  };

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
      adapters = undefined;
      await old?.release();
      const runtime = await openModelRuntime(src, {
        gpu: deps.gpu,
        backend: ref.backend ?? 'auto',
        ...(deps.onDeviceLost ? { onDeviceLost: deps.onDeviceLost } : {}),
      });
      const m = runtime.model;
      const [height, width] = defaultSize(m);
      model = m;
      adapters = new EngineAdapters(runtime.adapters, deps.loraBytes);
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
      if (!model || !adapters) {
        throw new LorafuseError(
          'invalid-argument',
          'No model is loaded: load a model in the Model panel first.',
        );
      }
      if (running)
        throw new LorafuseError('invalid-argument', 'A generation is already running; wait or cancel it.');
      const m = model;
      const held = adapters;
      const controller = new AbortController();
      running = controller;
      const started = performance.now();
      try {
        await held.sync(req.adapters);
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
          await held.setWeights(names, weights);
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

    fuseLora: (request) => idleAdapters('fusing').fuse(request),
    unfuseLora: () => idleAdapters('unfusing').unfuse(),
    addWeightedAdapter: (request) => idleAdapters('merging adapters').merge(request),
    saveLoraAdapter: (ref, format) => idleAdapters('saving an adapter').save(ref, format),
    exportFusedWeights: (component) => idleAdapters('exporting weights').exportFused(component),
    async deleteAdapters(names) {
      // Without a model nothing is held: the adapters are gone already.
      if (adapters) await idleAdapters('deleting adapters').delete(names);
    },
  };
}
