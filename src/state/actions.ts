/**
 * Flows that touch the worker or several slices. Components call these; slices stay simple
 * setters. The engine is injected, so tests drive the same flows with a fake `EngineApi`.
 */
import * as Comlink from 'comlink';
import type {
  AdapterFileFormat,
  BackendChoice,
  CachedRepo,
  EngineApi,
  GenerateAdapter,
  GenerateStep,
  LoraDownloadProgress,
  LoraFileSource,
  LoraSearchHit,
  LoraSearchQuery,
  LoraSummary,
  MergeRequest,
  ModelLoadProgress,
  RepoFile,
  SavedAdapterFile,
  StorageInfo,
} from '../api.ts';
import { normalizeHubUrl } from '../core/engine/hub-url.ts';
import { PARAMETERS_KEYWORD, readPngParameters } from '../core/image/png-chunks.ts';
import { encodePng } from '../core/image/png-encode.ts';
import type { Component } from '../core/lora/adapter.ts';
import { parseGenerationParams } from '../core/pipeline/generation-params.ts';
import type { Schedule } from '../core/pipeline/schedule.ts';
import { LorafuseError, type SerializedError, toLorafuseError } from '../errors.ts';
import { restorePlan, runInfotext } from './gallery-params.ts';
import { applyPromptLoras, type PromptAdapters } from './prompt-adapters.ts';
import { IDLE_RUN } from './slices/generation.ts';
import { type LoraSource, modulesOutside, selectAdapterSettings, uniqueAdapterName } from './slices/loras.ts';
import { selectHubUrl } from './slices/settings.ts';
import type { AppState, AppStore } from './store.ts';

/** A LoRA file to add: a Hub repo file, a URL, or a file the user dropped or picked. */
export type AddLoraSource =
  | { repo: string; weightName: string; revision?: string }
  | { url: string }
  | { file: Blob & { readonly name: string } };

export interface AppActions {
  /** Applies the page's `?hub=<url>` (this visit only) and reads the engine's WebGPU status. */
  start(pageSearch: string): Promise<void>;
  /** Lists the files of the model repo in the Model panel; a newer listing supersedes an older one. */
  listModelFiles(): Promise<void>;
  /** Shows an error that happened outside a flow (e.g. the worker failed to start). */
  reportError(e: unknown): void;
  /** The origin's storage usage, quota and persistence, read by the engine; null where unknown (the error is shown). */
  readStorage(): Promise<StorageInfo | null>;
  /**
   * Reads and converts a LoRA file in the engine and adds it to the panel (weight 1, enabled);
   * resolves to the adapter name, or null when it failed (the error is shown).
   */
  addLora(source: AddLoraSource, options?: { adapterName?: string }): Promise<string | null>;
  /**
   * Hotswap in the panel: reads another file and puts it under `adapterName`, keeping weight,
   * schedule and toggle. Refused when the new file touches modules the current one does not.
   */
  replaceLora(adapterName: string, source: AddLoraSource): Promise<boolean>;
  /** The .safetensors files of a LoRA repo; null when listing failed (the error is shown). */
  listLoraFiles(repo: string, revision?: string): Promise<RepoFile[] | null>;
  /** LoRA repos for a base model and/or a name; null when the search failed (the error is shown). */
  searchLoras(query: LoraSearchQuery): Promise<LoraSearchHit[] | null>;
  /** Loads the Model panel's repo in the engine, with byte progress per file. */
  loadModel(): Promise<void>;
  /**
   * Generates with the Generate panel's settings and the enabled LoRAs (`<lora:name:w>` tags in the
   * prompt set weights for the run, `prompt-adapters.ts`); previews each step; the finished image
   * goes to the gallery as a PNG with its A1111 `parameters` chunk.
   */
  generate(): Promise<void>;
  /** Stops the running generation within one step. */
  cancelGeneration(): Promise<void>;
  /**
   * Reads the `parameters` chunk of a PNG (lorafuse's or A1111's) and sets the Generate panel and
   * the loaded adapters from it; false when it could not (the error is shown).
   */
  restoreFromPng(file: Blob & { readonly name: string }): Promise<boolean>;
  /**
   * Starts a new engine after the old one died or lost its GPU device: reads the LoRAs again and
   * reloads the model that was loaded; the settings in the store stay. False when a step failed.
   */
  restartEngine(): Promise<boolean>;
  /** Removes an adapter from the panel and the engine (Diffusers' `delete_adapters`); refused while fused. */
  removeLora(adapterName: string): Promise<void>;
  /**
   * Fuses the named adapters into the model at their weights times the global scale (Diffusers'
   * `fuse_lora(adapter_names, lora_scale)`); they stay fused until `unfuseLoras`. False when it failed.
   */
  fuseLoras(adapterNames: string[]): Promise<boolean>;
  /** Restores the model's weights from before the fuse, bit-exactly; the adapters are live again. */
  unfuseLoras(): Promise<boolean>;
  /**
   * PEFT's `add_weighted_adapter` on panel adapters; the result joins the panel as a new enabled
   * adapter. Resolves to its name, or null when it failed (the error is shown).
   */
  mergeLoras(request: MergeLorasRequest): Promise<string | null>;
  /** An adapter as a .safetensors file (PEFT or kohya keys); null when it failed (the error is shown). */
  saveLora(adapterName: string, format: AdapterFileFormat): Promise<SavedAdapterFile | null>;
  /** One component's weights with what is fused, as safetensors; null when it failed (the error is shown). */
  exportFusedWeights(component: Component): Promise<SavedAdapterFile | null>;
  /** Repos in the engine's Hub cache with their sizes; null when it failed (the error is shown). */
  listCachedRepos(): Promise<CachedRepo[] | null>;
  /** Deletes a repo from the Hub cache; resolves to the bytes freed, or null when it failed. */
  deleteCachedRepo(repo: string): Promise<number | null>;
}

/** The Merge dialog's choices: panel adapters by name, the rest as `addWeightedAdapter` takes them. */
export type MergeLorasRequest = Omit<MergeRequest, 'adapters'> & { adapters: string[] };

/**
 * Adapter changes and the engine. The LoRA slice is the source of truth for adapter names,
 * weights, block weights, schedules, toggles and the global scale. This is the one place they go
 * to the engine: `generationAdapters` turns the slice (via `selectAdapterSettings`) into the
 * adapters of each `generate` request; the engine loads, hotswaps and deletes adapters to match
 * (from the bytes it read for `inspectLora`) and applies the per-step schedules.
 */
export function generationAdapters(s: Parameters<typeof selectAdapterSettings>[0]): {
  adapters: GenerateAdapter[];
  scale: Schedule;
} {
  const settings = selectAdapterSettings(s);
  const on = s.loras.filter((l) => l.enabled);
  const adapters = settings.adapterNames.map((adapterName, i): GenerateAdapter => {
    const entry = on.find((l) => l.adapterName === adapterName);
    if (!entry?.summary) {
      throw new LorafuseError(
        'invalid-argument',
        `LoRA "${adapterName}" has not been read yet; add it again.`,
        {
          adapterName,
        },
      );
    }
    const schedule = settings.schedules[adapterName];
    return {
      adapterName,
      file: entry.summary.file,
      weight: settings.adapterWeights[i]!,
      ...(schedule !== undefined ? { schedule } : {}),
    };
  });
  return { adapters, scale: scaleTimes(settings.scaleSchedule, settings.scale) };
}

/**
 * The adapters and scale the next Generate would send: the prompt's `<lora:name:w>` tags applied,
 * fused adapters left out (they are in the model's weights until Unfuse).
 */
export function requestAdapters(
  s: Pick<AppState, 'loras' | 'loraScale' | 'loraScaleSchedule' | 'fusedLoras'> & {
    generation: { prompt: string };
  },
): { tagged: PromptAdapters; adapters: GenerateAdapter[]; scale: Schedule } {
  const tagged = applyPromptLoras(s.generation.prompt, s.loras);
  const fused = new Set(s.fusedLoras.map((f) => f.adapterName));
  const live = tagged.loras.filter((l) => !fused.has(l.adapterName));
  return { tagged, ...generationAdapters({ ...s, loras: live }) };
}

/**
 * True when the last finished image was made with other adapter settings (weights, toggles,
 * schedules, block weights, scale, files) than the next Generate would use.
 */
export function selectAdaptersChangedSinceRun(s: AppState): boolean {
  const result = s.run.result;
  if (!result) return false;
  try {
    const next = requestAdapters(s);
    return (
      JSON.stringify({ a: next.adapters, s: next.scale }) !==
      JSON.stringify({ a: result.params.adapters, s: result.params.scale })
    );
  } catch {
    // An adapter not read yet: Generate will say so.
    return false;
  }
}

function scaleTimes(s: Schedule, k: number): Schedule {
  if (k === 1) return s;
  if (typeof s === 'number') return s * k;
  return (s as readonly (number | readonly [number, number])[]).map((v) =>
    typeof v === 'number' ? v * k : ([v[0], v[1] * k] as const),
  ) as Schedule;
}

/** How the slice remembers a source (a local file's bytes are not kept). */
function entrySource(source: AddLoraSource): LoraSource {
  if ('file' in source) return { fileName: source.file.name, size: source.file.size };
  return source;
}

function describeSource(source: AddLoraSource): string {
  if ('file' in source) return source.file.name;
  if ('url' in source) return source.url;
  return `${source.repo}/${source.weightName}`;
}

/** A file none of whose keys maps to a module cannot be used: say which keys and why. */
function refuseEmpty(summary: LoraSummary): void {
  if (summary.moduleIds.length > 0) return;
  const first = summary.unmapped[0];
  throw new LorafuseError(
    'lora-unmapped-keys',
    `${summary.file}: none of its ${summary.keys} keys maps to a module of ${summary.base.name}${
      first ? ` (first: '${first.key}': ${first.reason})` : ''
    }. Is it a LoRA for Stable Diffusion 1.x/2.x/XL?`,
    { file: summary.file, keys: summary.keys, base: summary.base.name },
  );
}

/** The `?hub=` parameter of a page's query string, normalized; null when absent. */
export function hubUrlFromSearch(search: string): string | null {
  const hub = new URLSearchParams(search).get('hub');
  if (hub === null) return null;
  try {
    return normalizeHubUrl(hub);
  } catch (e) {
    const err = toLorafuseError(e, 'invalid-argument');
    throw new LorafuseError('invalid-argument', `The page's ?hub= parameter is not usable: ${err.message}`, {
      hub,
    });
  }
}

/** The page's `?backend=auto|webgpu|wasm` (this visit only); null when absent. */
export function backendFromSearch(search: string): BackendChoice | null {
  const b = new URLSearchParams(search).get('backend');
  if (b === null) return null;
  if (b === 'auto' || b === 'webgpu' || b === 'wasm') return b;
  throw new LorafuseError(
    'invalid-argument',
    `The page's ?backend= must be auto, webgpu or wasm; got '${b}'.`,
    {
      backend: b,
    },
  );
}

export interface ActionsOptions {
  /** Ends the engine's worker and starts a new one (app/engine-host.ts); absent: no restart. */
  restartEngine?: () => EngineApi;
}

export function createActions(
  store: AppStore,
  initialEngine: EngineApi,
  options: ActionsOptions = {},
): AppActions {
  let engine = initialEngine;
  let listing = 0;
  let galleryCount = 0;
  /** The model to load again after a restart. */
  let lastLoad: { repo: string; revision: string } | null = null;
  /**
   * Files the engine cannot read again by itself (dropped files, merged adapters), by
   * `LoraSummary.file`, so a restarted engine gets them back.
   */
  const keptFiles = new Map<string, Blob>();

  /** The panel adapter named `adapterName`, read by the engine, as the engine knows it. */
  const adapterRef = (adapterName: string): { adapterName: string; file: string } => {
    const entry = store.getState().loras.find((l) => l.adapterName === adapterName);
    if (!entry?.summary) {
      throw new LorafuseError(
        'invalid-argument',
        `No LoRA named "${adapterName}" has been read; add it first.`,
        {
          adapterName,
        },
      );
    }
    return { adapterName, file: entry.summary.file };
  };

  /** Reads a LoRA in the engine with progress in the slice's `loraTask`; the task ends either way. */
  const inspect = async (source: AddLoraSource, replacing?: string): Promise<LoraSummary> => {
    const task = { file: describeSource(source), ...(replacing ? { replacing } : {}) };
    store.getState().setLoraTask({ ...task, loaded: 0, total: 0 });
    try {
      await pushHubOptions();
      const onProgress = (p: LoraDownloadProgress) => {
        store.getState().setLoraTask({ ...task, loaded: p.loaded, total: p.total });
      };
      let arg: LoraFileSource;
      if ('file' in source) {
        const bytes = new Uint8Array(await source.file.arrayBuffer());
        arg = Comlink.transfer({ bytes, name: source.file.name }, [bytes.buffer]);
      } else {
        arg = source;
      }
      const summary = await engine.inspectLora(arg, Comlink.proxy(onProgress));
      refuseEmpty(summary);
      return summary;
    } finally {
      store.getState().setLoraTask(null);
    }
  };

  /** When the last automatic restart began (performance.now()). */
  let lastAutoRestart = Number.NEGATIVE_INFINITY;
  /**
   * Asks the engine to report a lost GPU device. The engine is then re-created at once (a new
   * worker: onnxruntime-web keeps one device per JS realm), with the model and LoRAs read again
   * from the cache; at most once a minute, so a device lost again right away leaves the banner's
   * "Restart engine" to the user.
   */
  const watchEngine = () =>
    engine.watchDeviceLost(
      Comlink.proxy((e: SerializedError) => {
        store.getState().showError(LorafuseError.fromJSON(e));
        if (!options.restartEngine || performance.now() - lastAutoRestart < 60_000) return;
        lastAutoRestart = performance.now();
        void actions.restartEngine();
      }),
    );

  /** Loads a model in the engine, with byte progress per file; remembered for a restart. */
  const loadRepo = async (repo: string, revision: string): Promise<void> => {
    const s = store.getState();
    s.setModelLoad({ status: 'loading', repo, progress: null });
    // The engine drops the old model, and with it what was fused.
    s.setFusedLoras([]);
    try {
      await pushHubOptions();
      const onProgress = (progress: ModelLoadProgress) => {
        store.getState().setModelLoad({ status: 'loading', repo, progress });
      };
      const info = await engine.loadModel(
        { repo, ...(revision ? { revision } : {}), backend: store.getState().backendChoice },
        Comlink.proxy(onProgress),
      );
      lastLoad = { repo, revision };
      const st = store.getState();
      st.setModelLoad({ status: 'loaded', info });
      const g = st.generation;
      if (g.width % info.sizeMultiple !== 0 || g.height % info.sizeMultiple !== 0) {
        st.setGenerationParams({ width: info.width, height: info.height });
      }
    } catch (e) {
      store.getState().setModelLoad({ status: 'error', repo });
      store.getState().showError(e);
    }
  };

  const pushHubOptions = (): Promise<void> => {
    const s = store.getState();
    return engine.setHubOptions({ hubUrl: selectHubUrl(s), ...(s.token ? { token: s.token } : {}) });
  };

  const actions: AppActions = {
    async start(pageSearch) {
      void watchEngine().catch((e) => store.getState().showError(e));
      try {
        const hub = hubUrlFromSearch(pageSearch);
        if (hub) store.getState().setSessionHubUrl(hub);
        const backend = backendFromSearch(pageSearch);
        if (backend) store.getState().setBackendChoice(backend);
      } catch (e) {
        store.getState().showError(e);
      }
      try {
        store.getState().setEngineStatus(await engine.getStatus());
      } catch (e) {
        store.getState().showError(e);
      }
    },

    async listModelFiles() {
      const s = store.getState();
      const repo = s.modelRepo.trim();
      const revision = s.modelRevision.trim();
      if (!repo) {
        s.showError(
          new LorafuseError(
            'hub-invalid-repo',
            'Enter a model repository id (owner/name), e.g. stable-diffusion-v1-5/stable-diffusion-v1-5.',
          ),
        );
        return;
      }
      const request = ++listing;
      s.dismissError();
      s.startListing();
      try {
        await pushHubOptions();
        const files = await engine.listRepoFiles(repo, revision ? { revision } : {});
        if (request !== listing) return;
        const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
        store.getState().finishListing(repo, revision, sorted);
      } catch (e) {
        if (request !== listing) return;
        store.getState().failListing();
        store.getState().showError(e);
      }
    },

    reportError(e) {
      store.getState().showError(e);
    },

    async readStorage() {
      try {
        return await engine.getStorageEstimate();
      } catch (e) {
        store.getState().showError(e);
        return null;
      }
    },

    async addLora(source, opts = {}) {
      store.getState().dismissError();
      try {
        const summary = await inspect(source);
        const s = store.getState();
        if ('file' in source) keptFiles.set(summary.file, source.file);
        const adapterName = opts.adapterName?.trim() || uniqueAdapterName(s.loras, summary.name);
        s.addLora({ adapterName, source: entrySource(source), weight: 1, enabled: true, summary });
        return adapterName;
      } catch (e) {
        store.getState().showError(e);
        return null;
      }
    },

    async replaceLora(adapterName, source) {
      store.getState().dismissError();
      try {
        const current = store.getState().loras.find((l) => l.adapterName === adapterName);
        if (!current) {
          throw new LorafuseError('invalid-argument', `No adapter named "${adapterName}" to replace.`, {
            adapterName,
          });
        }
        const summary = await inspect(source, adapterName);
        if ('file' in source) keptFiles.set(summary.file, source.file);
        const outside = current.summary ? modulesOutside(current.summary, summary) : [];
        if (outside.length > 0) {
          throw new LorafuseError(
            'invalid-argument',
            `${summary.file} cannot replace "${adapterName}": it touches ${outside.length} module(s) the current file does not (${outside
              .slice(0, 5)
              .join(
                ', ',
              )}${outside.length > 5 ? ', ...' : ''}). A hotswap may touch the same modules or a subset; add it as a new adapter instead.`,
            { adapterName, file: summary.file, outside: outside.length },
          );
        }
        store.getState().replaceLoraFile(adapterName, entrySource(source), summary);
        return true;
      } catch (e) {
        store.getState().showError(e);
        return false;
      }
    },

    async listLoraFiles(repo, revision) {
      const id = repo.trim();
      if (!id) {
        store
          .getState()
          .showError(new LorafuseError('hub-invalid-repo', 'Enter a LoRA repository id (owner/name).'));
        return null;
      }
      store.getState().dismissError();
      try {
        await pushHubOptions();
        const rev = revision?.trim();
        return await engine.listLoraFiles(id, rev ? { revision: rev } : {});
      } catch (e) {
        store.getState().showError(e);
        return null;
      }
    },

    async loadModel() {
      const s = store.getState();
      const repo = s.modelRepo.trim();
      const revision = s.modelRevision.trim();
      if (!repo) {
        s.showError(
          new LorafuseError('hub-invalid-repo', 'Enter a model repository id (owner/name) to load.'),
        );
        return;
      }
      s.dismissError();
      await loadRepo(repo, revision);
    },

    async restartEngine() {
      if (!options.restartEngine) {
        store
          .getState()
          .showError(new LorafuseError('internal', 'This app cannot restart its engine; reload the page.'));
        return false;
      }
      const s = store.getState();
      s.dismissError();
      s.setEngineRestart('restarting');
      try {
        engine = options.restartEngine();
        s.setEngineLost(null);
        s.setFusedLoras([]);
        if (s.run.status === 'running') s.updateRun({ status: 'error' });
        await watchEngine();
        store.getState().setEngineStatus(await engine.getStatus());
        await pushHubOptions();
        // The new engine holds no LoRA bytes: read every adapter again (Hub files come from the cache).
        for (const l of store.getState().loras) {
          if (!l.summary) continue;
          const kept = keptFiles.get(l.summary.file);
          let source: LoraFileSource | undefined;
          if ('repo' in l.source || 'url' in l.source) source = l.source;
          else if (kept) {
            const bytes = new Uint8Array(await kept.arrayBuffer());
            source = Comlink.transfer({ bytes, name: l.summary.file }, [bytes.buffer]);
          }
          if (!source) continue;
          await engine.inspectLora(source);
        }
        if (lastLoad) await loadRepo(lastLoad.repo, lastLoad.revision);
        return store.getState().error === null;
      } catch (e) {
        store.getState().showError(e);
        return false;
      } finally {
        store.getState().setEngineRestart('idle');
      }
    },

    async generate() {
      const s = store.getState();
      if (s.run.status === 'running') return;
      s.dismissError();
      const g = s.generation;
      s.updateRun({ ...IDLE_RUN, status: 'running', steps: g.numInferenceSteps });
      try {
        const { tagged, adapters, scale } = requestAdapters(s);
        const onStep = (p: GenerateStep) => {
          store.getState().updateRun({ stepsDone: p.step + 1, steps: p.steps, preview: p.preview });
        };
        const result = await engine.generate(
          {
            prompt: tagged.prompt,
            negativePrompt: g.negativePrompt,
            steps: g.numInferenceSteps,
            guidanceScale: g.guidanceScale,
            seed: g.seed,
            width: g.width,
            height: g.height,
            ...(g.scheduler !== 'default' ? { scheduler: g.scheduler } : {}),
            adapters,
            scale,
          },
          Comlink.proxy(onStep),
        );
        store.getState().updateRun({ status: 'done', result });
        const load = store.getState().modelLoad;
        const infotext = runInfotext({
          prompt: g.prompt,
          negativePrompt: g.negativePrompt,
          steps: result.params.steps,
          guidanceScale: result.params.guidanceScale,
          seed: result.params.seed,
          width: result.image.width,
          height: result.image.height,
          scheduler: result.params.scheduler,
          model: load.status === 'loaded' ? load.info.repo : store.getState().modelRepo,
          loras: tagged.loras,
          tags: tagged.tags,
          loraScale: s.loraScale,
          loraScaleSchedule: s.loraScaleSchedule,
          fused: s.fusedLoras,
        });
        const { image } = result;
        const png = await encodePng(image.rgba, image.width, image.height, {
          text: [{ keyword: PARAMETERS_KEYWORD, text: infotext }],
        });
        const id = ++galleryCount;
        store.getState().addGalleryImage({
          id,
          url: URL.createObjectURL(new Blob([png as Uint8Array<ArrayBuffer>], { type: 'image/png' })),
          width: image.width,
          height: image.height,
          infotext,
          fileName: `lorafuse-${String(id).padStart(3, '0')}-${result.params.seed}.png`,
        });
      } catch (e) {
        const err = toLorafuseError(e);
        if (err.code === 'cancelled') {
          store.getState().updateRun({ status: 'cancelled' });
        } else {
          if (store.getState().run.status === 'running') store.getState().updateRun({ status: 'error' });
          store.getState().showError(err);
        }
      }
    },

    async restoreFromPng(file) {
      store.getState().dismissError();
      try {
        const text = await readPngParameters(new Uint8Array(await file.arrayBuffer()), file.name);
        if (text === undefined) {
          throw new LorafuseError(
            'invalid-argument',
            `${file.name} has no 'parameters' text chunk, so there are no settings to restore. Drop a PNG saved by lorafuse or A1111.`,
            { file: file.name },
          );
        }
        const s = store.getState();
        const plan = restorePlan(parseGenerationParams(text), s.loras);
        s.setGenerationParams(plan.generation);
        for (const l of plan.loras) {
          s.setLoraEnabled(l.adapterName, l.enabled);
          if (l.weight !== undefined) s.setLoraWeight(l.adapterName, l.weight);
          if (l.schedule !== undefined) s.setLoraSchedule(l.adapterName, l.schedule ?? undefined);
        }
        if (plan.scale) {
          s.setLoraScale(plan.scale.scale);
          s.setLoraScaleSchedule(plan.scale.schedule);
        }
        if (plan.notes.length > 0) {
          throw new LorafuseError(
            'invalid-argument',
            `Restored the settings of ${file.name}, except: ${plan.notes.join('; ')}.`,
            { file: file.name, notes: plan.notes },
          );
        }
        return true;
      } catch (e) {
        store.getState().showError(e);
        return false;
      }
    },

    async cancelGeneration() {
      const s = store.getState();
      if (s.run.status !== 'running') return;
      s.updateRun({ cancelledAtStep: s.run.stepsDone });
      await engine.cancel();
    },

    async removeLora(adapterName) {
      const s = store.getState();
      s.dismissError();
      try {
        if (s.fusedLoras.some((f) => f.adapterName === adapterName)) {
          throw new LorafuseError(
            'invalid-argument',
            `"${adapterName}" is fused into the model; press Unfuse before deleting it.`,
            { adapterName },
          );
        }
        await engine.deleteAdapters([adapterName]);
        store.getState().removeLora(adapterName);
      } catch (e) {
        store.getState().showError(e);
      }
    },

    async fuseLoras(adapterNames) {
      const s = store.getState();
      s.dismissError();
      try {
        if (adapterNames.length === 0) {
          throw new LorafuseError('invalid-argument', 'Choose at least one adapter to fuse.');
        }
        const chosen = adapterNames.map((name) => {
          const entry = s.loras.find((l) => l.adapterName === name);
          if (!entry)
            throw new LorafuseError('invalid-argument', `No LoRA named "${name}".`, { adapterName: name });
          return { ...entry, enabled: true };
        });
        const { adapters } = generationAdapters({ ...s, loras: chosen });
        const fused = await engine.fuseLora({
          adapters: adapters.map(({ schedule: _ignored, ...a }) => a),
          loraScale: s.loraScale,
        });
        const before = store.getState().fusedLoras;
        store.getState().setFusedLoras(
          fused.map(
            (adapterName) =>
              before.find((f) => f.adapterName === adapterName) ?? {
                adapterName,
                weight: chosen.find((c) => c.adapterName === adapterName)?.weight ?? 1,
                loraScale: s.loraScale,
              },
          ),
        );
        return true;
      } catch (e) {
        store.getState().showError(e);
        return false;
      }
    },

    async unfuseLoras() {
      store.getState().dismissError();
      try {
        await engine.unfuseLora();
        store.getState().setFusedLoras([]);
        return true;
      } catch (e) {
        store.getState().showError(e);
        return false;
      }
    },

    async mergeLoras(request) {
      const s = store.getState();
      s.dismissError();
      try {
        const adapterName = request.adapterName.trim();
        if (s.loras.some((l) => l.adapterName === adapterName)) {
          throw new LorafuseError(
            'invalid-argument',
            `Adapter name "${adapterName}" is already in use; pick another name for the merged adapter.`,
            { adapterName },
          );
        }
        const result = await engine.addWeightedAdapter({
          ...request,
          adapterName,
          adapters: request.adapters.map(adapterRef),
        });
        keptFiles.set(result.summary.file, new Blob([result.bytes as Uint8Array<ArrayBuffer>]));
        store.getState().addLora({
          adapterName,
          source: { merged: { from: [...request.adapters], method: request.combinationType } },
          weight: 1,
          enabled: true,
          summary: result.summary,
        });
        return adapterName;
      } catch (e) {
        store.getState().showError(e);
        return null;
      }
    },

    async saveLora(adapterName, format) {
      store.getState().dismissError();
      try {
        return await engine.saveLoraAdapter(adapterRef(adapterName), format);
      } catch (e) {
        store.getState().showError(e);
        return null;
      }
    },

    async exportFusedWeights(component) {
      store.getState().dismissError();
      try {
        return await engine.exportFusedWeights(component);
      } catch (e) {
        store.getState().showError(e);
        return null;
      }
    },

    async listCachedRepos() {
      try {
        return await engine.listCachedRepos();
      } catch (e) {
        store.getState().showError(e);
        return null;
      }
    },

    async deleteCachedRepo(repo) {
      store.getState().dismissError();
      try {
        return await engine.deleteCachedRepo(repo);
      } catch (e) {
        store.getState().showError(e);
        return null;
      }
    },

    async searchLoras(query) {
      store.getState().dismissError();
      try {
        await pushHubOptions();
        return await engine.searchLoras(query);
      } catch (e) {
        store.getState().showError(e);
        return null;
      }
    },
  };
  return actions;
}
