/// <reference types="vite-plugin-pwa/vanillajs" />
/**
 * The service worker (vite.config.ts, `VitePWA`): registration through the plugin's
 * `virtual:pwa-register` (workbox-window), and the state the update prompt shows. `registerType` is
 * `prompt`: a new version waits until the user says reload, so a running generation is never cut.
 * Also the one place the page asks for persistent storage: `navigator.storage.persist()` is exposed
 * to pages only, not to the engine's worker.
 */
import { registerSW } from 'virtual:pwa-register';

export interface PwaState {
  /** The app shell is precached: the app now starts with the network off. */
  offlineReady: boolean;
  /** A new version is installed and waits for `applyUpdate()`. */
  needRefresh: boolean;
  /** Why the service worker could not be registered (the app then needs the network to start). */
  error: string | null;
}

let state: PwaState = { offlineReady: false, needRefresh: false, error: null };
const listeners = new Set<() => void>();
let update: ((reloadPage?: boolean) => Promise<void>) | undefined;

function set(patch: Partial<PwaState>): void {
  state = { ...state, ...patch };
  for (const listener of listeners) listener();
}

/** For `useSyncExternalStore`. */
export function subscribePwa(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function getPwaState(): PwaState {
  return state;
}

/** Registers the service worker once; a no-op where the browser has none (or in `vite dev`). */
export function startPwa(): void {
  if (update || !('serviceWorker' in navigator)) return;
  update = registerSW({
    immediate: true,
    onOfflineReady: () => set({ offlineReady: true }),
    onNeedRefresh: () => set({ needRefresh: true }),
    onRegisterError: (e: unknown) => set({ error: e instanceof Error ? e.message : String(e) }),
  });
}

/** Activates the waiting version; the page reloads once it controls it. */
export async function applyUpdate(): Promise<void> {
  await update?.(true);
}

export function dismissPwaNotice(): void {
  set({ offlineReady: false, needRefresh: false });
}

/**
 * Asks the browser not to evict this origin's storage (cached models and LoRAs can be gigabytes).
 * Resolves to whether storage is now persistent; false where the browser has no Storage API.
 * Call it from a user action (caching a model): some browsers ask the user, some decide by engagement.
 */
export async function requestPersistentStorage(): Promise<boolean> {
  const storage = globalThis.navigator?.storage;
  if (!storage?.persist) return false;
  if (await storage.persisted()) return true;
  return storage.persist();
}
