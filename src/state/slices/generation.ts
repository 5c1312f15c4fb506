import type { StateCreator } from 'zustand';
import type { EngineGenerateResult, LoadedModelInfo, ModelLoadProgress, RgbaImage } from '../../api.ts';
import type { SchedulerKind } from '../../core/pipeline/schedulers/index.ts';
import { LorafuseError } from '../../errors.ts';
import type { AppState, Middlewares } from '../store.ts';

/** The pipeline call's arguments, Diffusers' names in camelCase. */
export interface GenerationParams {
  prompt: string;
  negativePrompt: string;
  numInferenceSteps: number;
  guidanceScale: number;
  seed: number;
  width: number;
  height: number;
  /** 'default': the model's scheduler_config.json. */
  scheduler: SchedulerKind | 'default';
}

export type RunStatus = 'idle' | 'running' | 'done' | 'cancelled' | 'error';

/** The current or last generation, as the Generate panel shows it. */
export interface GenerationRun {
  status: RunStatus;
  /** Steps finished so far. */
  stepsDone: number;
  steps: number;
  /** The latest step preview (one pixel per latent cell). */
  preview: RgbaImage | null;
  /** Steps finished when cancel was pressed; null unless cancelled. */
  cancelledAtStep: number | null;
  result: EngineGenerateResult | null;
}

export const IDLE_RUN: GenerationRun = {
  status: 'idle',
  stepsDone: 0,
  steps: 0,
  preview: null,
  cancelledAtStep: null,
  result: null,
};

/** Loading a model in the engine: 'loading' with the file being read, then the model's facts. */
export type ModelLoadState =
  | { status: 'idle' }
  | { status: 'loading'; repo: string; progress: ModelLoadProgress | null }
  | { status: 'loaded'; info: LoadedModelInfo }
  | { status: 'error'; repo: string };

export interface GenerationSlice {
  generation: GenerationParams;
  /** Merges a patch; throws `invalid-argument` naming the field when a value cannot be used. */
  setGenerationParams(patch: Partial<GenerationParams>): void;
  /** A new random seed. */
  rerollSeed(): void;
  modelLoad: ModelLoadState;
  setModelLoad(state: ModelLoadState): void;
  run: GenerationRun;
  /** Merges a patch into the run. */
  updateRun(patch: Partial<GenerationRun>): void;
}

export const DEFAULT_GENERATION: GenerationParams = {
  prompt: '',
  negativePrompt: '',
  numInferenceSteps: 25,
  guidanceScale: 7.5,
  seed: 0,
  width: 512,
  height: 512,
  scheduler: 'default',
};

export const createGenerationSlice: StateCreator<AppState, Middlewares, [], GenerationSlice> = (
  set,
  get,
) => ({
  generation: DEFAULT_GENERATION,
  setGenerationParams: (patch) => {
    checkGenerationPatch(patch);
    set({ generation: { ...get().generation, ...patch } });
  },
  rerollSeed: () => set({ generation: { ...get().generation, seed: randomSeed() } }),
  modelLoad: { status: 'idle' },
  setModelLoad: (modelLoad) => set({ modelLoad }),
  run: IDLE_RUN,
  updateRun: (patch) => set({ run: { ...get().run, ...patch } }),
});

/** A seed in [0, 2^32), as Diffusers users usually give. */
export function randomSeed(): number {
  const a = new Uint32Array(1);
  globalThis.crypto.getRandomValues(a);
  return a[0]!;
}

function checkGenerationPatch(p: Partial<GenerationParams>): void {
  const fail = (field: keyof GenerationParams, expected: string): never => {
    throw new LorafuseError('invalid-argument', `${field} must be ${expected}; got ${String(p[field])}.`, {
      field,
      value: p[field],
    });
  };
  if (
    p.numInferenceSteps !== undefined &&
    !(Number.isInteger(p.numInferenceSteps) && p.numInferenceSteps >= 1)
  )
    fail('numInferenceSteps', 'an integer >= 1');
  if (p.guidanceScale !== undefined && !Number.isFinite(p.guidanceScale))
    fail('guidanceScale', 'a finite number');
  if (p.seed !== undefined && !(Number.isSafeInteger(p.seed) && p.seed >= 0)) fail('seed', 'an integer >= 0');
  for (const field of ['width', 'height'] as const) {
    const v = p[field];
    if (v !== undefined && !(Number.isInteger(v) && v >= 8 && v % 8 === 0))
      fail(field, 'a positive multiple of 8');
  }
}
