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
  setEngineStatus(status: EngineStatus): void;
  /** Shows anything thrown; a non-LorafuseError becomes code `internal`. */
  showError(e: unknown): void;
  dismissError(): void;
}

export const createEngineSlice: StateCreator<AppState, Middlewares, [], EngineSlice> = (set) => ({
  engineStatus: null,
  error: null,
  setEngineStatus: (engineStatus) => set({ engineStatus }),
  showError: (e) => {
    const err = toLorafuseError(e);
    set({ error: { code: err.code, message: err.message, details: err.details } });
  },
  dismissError: () => set({ error: null }),
});
