import type { StateCreator } from 'zustand';
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
}

export interface GenerationSlice {
  generation: GenerationParams;
  /** Merges a patch; throws `invalid-argument` naming the field when a value cannot be used. */
  setGenerationParams(patch: Partial<GenerationParams>): void;
}

export const DEFAULT_GENERATION: GenerationParams = {
  prompt: '',
  negativePrompt: '',
  numInferenceSteps: 25,
  guidanceScale: 7.5,
  seed: 0,
  width: 512,
  height: 512,
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
});

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
