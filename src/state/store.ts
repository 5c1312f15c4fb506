/**
 * One bound zustand store built from slices; each slice writes only its own keys. Only settings
 * are persisted (`partializeSettings`), never the token unless the user opts in.
 */
import { createStore, type Mutate, type StoreApi, useStore } from 'zustand';
import { createJSONStorage, persist, type StateStorage } from 'zustand/middleware';
import { createEngineSlice, type EngineSlice } from './slices/engine.ts';
import { createGallerySlice, type GallerySlice } from './slices/gallery.ts';
import { createGenerationSlice, type GenerationSlice } from './slices/generation.ts';
import { createLorasSlice, type LorasSlice } from './slices/loras.ts';
import { createModelsSlice, type ModelsSlice } from './slices/models.ts';
import {
  createSettingsSlice,
  DEFAULT_HUB_URL,
  type PersistedSettings,
  partializeSettings,
  readPersistedSettings,
  type SettingsSlice,
} from './slices/settings.ts';
import { createXyGridSlice, type XyGridSlice } from './slices/xy-grid.ts';

export type AppState = ModelsSlice &
  LorasSlice &
  GenerationSlice &
  SettingsSlice &
  EngineSlice &
  GallerySlice &
  XyGridSlice;
export type Middlewares = [['zustand/persist', unknown]];
export type AppStore = Mutate<StoreApi<AppState>, Middlewares>;

export const PERSIST_KEY = 'lorafuse-settings';
/** Bump with a migration in `migratePersisted` when `PersistedSettings` changes shape. */
export const PERSIST_VERSION = 1;

function migratePersisted(stored: unknown): PersistedSettings {
  return { hubUrl: DEFAULT_HUB_URL, rememberToken: false, ...readPersistedSettings(stored) };
}

/** A fresh store; `storage` defaults to the page's localStorage (tests pass an in-memory one). */
export function createAppStore(storage?: StateStorage): AppStore {
  return createStore<AppState>()(
    persist(
      (...a) => ({
        ...createModelsSlice(...a),
        ...createLorasSlice(...a),
        ...createGenerationSlice(...a),
        ...createSettingsSlice(...a),
        ...createEngineSlice(...a),
        ...createGallerySlice(...a),
        ...createXyGridSlice(...a),
      }),
      {
        name: PERSIST_KEY,
        version: PERSIST_VERSION,
        storage: createJSONStorage(() => storage ?? localStorage),
        partialize: partializeSettings,
        migrate: migratePersisted,
        merge: (stored, current) => ({ ...current, ...readPersistedSettings(stored) }),
      },
    ),
  );
}

let appStore: AppStore | undefined;

/** The app's store, created on first use. */
export function getAppStore(): AppStore {
  appStore ??= createAppStore();
  return appStore;
}

/** React binding; pass an atomic selector (or wrap a tuple selector in `useShallow`). */
export function useAppStore<T>(selector: (s: AppState) => T): T {
  return useStore(getAppStore(), selector);
}
