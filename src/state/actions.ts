/**
 * Flows that touch the worker or several slices. Components call these; slices stay simple
 * setters. The engine is injected, so tests drive the same flows with a fake `EngineApi`.
 */
import * as Comlink from 'comlink';
import type {
  EngineApi,
  LoraDownloadProgress,
  LoraFileSource,
  LoraSearchHit,
  LoraSearchQuery,
  LoraSummary,
  RepoFile,
  StorageInfo,
} from '../api.ts';
import { normalizeHubUrl } from '../core/engine/hub-url.ts';
import { LorafuseError, toLorafuseError } from '../errors.ts';
import { type LoraSource, modulesOutside, uniqueAdapterName } from './slices/loras.ts';
import { selectHubUrl } from './slices/settings.ts';
import type { AppStore } from './store.ts';

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
}

/**
 * Adapter changes and the engine. The LoRA slice is the source of truth for adapter names,
 * weights, block weights, schedules, toggles and the global scale. The engine's adapter manager
 * (src/core/pipeline/adapters.ts, the Diffusers API) is not wired into the engine yet, so nothing
 * of that is sent: the worker only reads and describes the files (`inspectLora`). When it is
 * wired, this is the one place to send changes: subscribe to the store here with
 * `selectAdapterSettings` (slices/loras.ts) and call `loadLoraWeights` after `addLora` /
 * `replaceLora` (hotswap), `deleteAdapters` on removal, and `setAdapters(adapterNames,
 * adapterWeights)` with the per-step schedules whenever the selection changes.
 */

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

export function createActions(store: AppStore, engine: EngineApi): AppActions {
  let listing = 0;

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

  const pushHubOptions = (): Promise<void> => {
    const s = store.getState();
    return engine.setHubOptions({ hubUrl: selectHubUrl(s), ...(s.token ? { token: s.token } : {}) });
  };

  return {
    async start(pageSearch) {
      try {
        const hub = hubUrlFromSearch(pageSearch);
        if (hub) store.getState().setSessionHubUrl(hub);
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

    async addLora(source, options = {}) {
      store.getState().dismissError();
      try {
        const summary = await inspect(source);
        const s = store.getState();
        const adapterName = options.adapterName?.trim() || uniqueAdapterName(s.loras, summary.name);
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
}
