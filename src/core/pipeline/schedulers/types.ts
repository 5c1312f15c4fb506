/**
 * The scheduler contract shared by every sampler in this folder. Tensors are flat Float32Arrays
 * (any shape: schedulers work element-wise); a step never mutates its inputs.
 */
import type { NoiseGenerator } from '../noise.ts';

export type SchedulerKind = 'euler' | 'euler-a' | 'ddim' | 'dpmpp-2m' | 'dpmpp-2m-karras' | 'lcm';

export const SCHEDULER_KINDS: readonly SchedulerKind[] = [
  'euler',
  'euler-a',
  'ddim',
  'dpmpp-2m',
  'dpmpp-2m-karras',
  'lcm',
];

export type PredictionType = 'epsilon' | 'v_prediction' | 'sample';

export interface StepOptions {
  /**
   * The noise a stochastic scheduler (Euler ancestral, LCM) adds at this step, same length as the
   * sample. Without it the scheduler draws from its seeded generator.
   */
  noise?: Float32Array;
}

export interface StepResult {
  prevSample: Float32Array;
  /** The model's estimate of the clean sample at this step (LCM: its `denoised`), for previews. */
  predOriginal?: Float32Array;
}

export interface Scheduler {
  readonly kind: SchedulerKind;
  /** The Diffusers class this scheduler reproduces, e.g. `EulerDiscreteScheduler`. */
  readonly className: string;
  /** Timesteps fed to the UNet, one per step; empty until `setTimesteps`. */
  readonly timesteps: Float32Array;
  /** Noise levels per step plus the final one (sigma-based schedulers), else null. */
  readonly sigmas: Float32Array | null;
  /** What the initial Gaussian latents are multiplied by. */
  readonly initNoiseSigma: number;
  /** The generator used when `step` gets no `noise` (stochastic schedulers only draw from it). */
  readonly generator: NoiseGenerator;
  setTimesteps(numInferenceSteps: number): void;
  /** The UNet input for step `stepIndex` (0-based). Returns a new array (or the sample itself when unscaled). */
  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array;
  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, options?: StepOptions): StepResult;
}
