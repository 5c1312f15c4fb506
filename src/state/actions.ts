/**
 * Flows that touch the worker or several slices. Components call these; slices stay simple
 * setters. The engine is injected, so tests drive the same flows with a fake `EngineApi`.
 */
import type { EngineApi, StorageInfo } from '../api.ts';
import { normalizeHubUrl } from '../core/engine/hub-url.ts';
import { LorafuseError, toLorafuseError } from '../errors.ts';
import { selectHubUrl } from './slices/settings.ts';
import type { AppStore } from './store.ts';

export interface AppActions {
  /** Applies the page's `?hub=<url>` (this visit only) and reads the engine's WebGPU status. */
  start(pageSearch: string): Promise<void>;
  /** Lists the files of the model repo in the Model panel; a newer listing supersedes an older one. */
  listModelFiles(): Promise<void>;
  /** Shows an error that happened outside a flow (e.g. the worker failed to start). */
  reportError(e: unknown): void;
  /** The origin's storage usage, quota and persistence, read by the engine; null where unknown (the error is shown). */
  readStorage(): Promise<StorageInfo | null>;
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
  };
}
