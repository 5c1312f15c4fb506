import type { StateCreator } from 'zustand';
import type { BackendChoice } from '../../api.ts';
import type { AppState, Middlewares } from '../store.ts';

/** The build-time default (vite.config.ts, env LORAFUSE_HUB_URL); Node tests have no such constant. */
export const DEFAULT_HUB_URL: string =
  typeof __LORAFUSE_HUB_URL__ === 'string' ? __LORAFUSE_HUB_URL__ : 'https://huggingface.co';

export interface SettingsSlice {
  /** The Hub URL the user chose (persisted). */
  hubUrl: string;
  /** A Hub URL for this visit only, from the page's `?hub=` parameter (never persisted). */
  sessionHubUrl: string | null;
  /** Hub access token; persisted only when `rememberToken` is set. */
  token: string;
  rememberToken: boolean;
  /** Where models run when loaded: 'auto' (WebGPU when a device can be made), or forced (not persisted). */
  backendChoice: BackendChoice;
  setBackendChoice(choice: BackendChoice): void;
  /** Sets the Hub URL as the user's choice; it replaces a `?hub=` URL for this visit too. */
  setHubUrl(hubUrl: string): void;
  setSessionHubUrl(hubUrl: string | null): void;
  setToken(token: string): void;
  setRememberToken(remember: boolean): void;
}

export const createSettingsSlice: StateCreator<AppState, Middlewares, [], SettingsSlice> = (set) => ({
  hubUrl: DEFAULT_HUB_URL,
  sessionHubUrl: null,
  token: '',
  rememberToken: false,
  backendChoice: 'auto',
  setBackendChoice: (backendChoice) => set({ backendChoice }),
  setHubUrl: (hubUrl) => set({ hubUrl, sessionHubUrl: null }),
  setSessionHubUrl: (sessionHubUrl) => set({ sessionHubUrl }),
  setToken: (token) => set({ token }),
  setRememberToken: (rememberToken) => set({ rememberToken }),
});

/** The Hub URL in effect: this visit's `?hub=` URL, else the user's setting. */
export const selectHubUrl = (s: AppState): string => s.sessionHubUrl ?? s.hubUrl;

/** What `persist` stores: never the token unless the user asked for it. */
export interface PersistedSettings {
  hubUrl: string;
  rememberToken: boolean;
  token?: string;
}

export function partializeSettings(s: AppState): PersistedSettings {
  return s.rememberToken
    ? { hubUrl: s.hubUrl, rememberToken: true, token: s.token }
    : { hubUrl: s.hubUrl, rememberToken: false };
}

/** Reads stored settings defensively: a field of the wrong type is ignored, not trusted. */
export function readPersistedSettings(stored: unknown): Partial<PersistedSettings> {
  if (typeof stored !== 'object' || stored === null) return {};
  const s = stored as Record<string, unknown>;
  const out: Partial<PersistedSettings> = {};
  if (typeof s.hubUrl === 'string' && s.hubUrl) out.hubUrl = s.hubUrl;
  if (typeof s.rememberToken === 'boolean') out.rememberToken = s.rememberToken;
  if (out.rememberToken && typeof s.token === 'string') out.token = s.token;
  return out;
}
