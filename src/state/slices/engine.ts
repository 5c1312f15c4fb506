import type { StateCreator } from 'zustand';
import type { EngineStatus } from '../../api.ts';
import { type ErrorCode, type ErrorDetails, toLorafuseError } from '../../errors.ts';
import type { AppState, Middlewares } from '../store.ts';

/** An error as the UI shows it: plain data, so the store holds no class instances. */
export interface ShownError {
  code: ErrorCode;
  message: string;
  details: ErrorDetails;
}

export interface EngineSlice {
  /** The worker's WebGPU probe and backend; null until it answered. */
  engineStatus: EngineStatus | null;
  /** The last error of any flow, shown until dismissed or replaced. */
  error: ShownError | null;
  /**
   * Set when the engine is gone (its worker died: `engine-lost`) or unusable (`device-lost`):
   * the app offers "Restart engine". Cleared by a restart.
   */
  engineLost: ShownError | null;
  /** 'restarting' while a new engine loads the model and LoRAs again. */
  engineRestart: 'idle' | 'restarting';
  setEngineLost(lost: ShownError | null): void;
  setEngineRestart(state: 'idle' | 'restarting'): void;
  setEngineStatus(status: EngineStatus): void;
  /** Shows anything thrown; a non-LorafuseError becomes code `internal`; a lost engine or device also sets `engineLost`. */
  showError(e: unknown): void;
  dismissError(): void;
}

export const createEngineSlice: StateCreator<AppState, Middlewares, [], EngineSlice> = (set) => ({
  engineStatus: null,
  error: null,
  engineLost: null,
  engineRestart: 'idle',
  setEngineStatus: (engineStatus) => set({ engineStatus }),
  setEngineLost: (engineLost) => set({ engineLost }),
  setEngineRestart: (engineRestart) => set({ engineRestart }),
  showError: (e) => {
    const err = toLorafuseError(e);
    const shown = { code: err.code, message: err.message, details: err.details };
    if (err.code === 'engine-lost' || err.code === 'device-lost') set({ error: shown, engineLost: shown });
    else set({ error: shown });
  },
  dismissError: () => set({ error: null }),
});
