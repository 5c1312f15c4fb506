/**
 * The parts shared by the alphas-cumprod samplers (DDIM, LCM): the training schedule with its
 * final alpha_bar, and the Scheduler shell (no sigmas, unit initial noise, unscaled UNet input).
 */
import type { NoiseGenerator } from '../noise.ts';
import { alphasCumprod } from './betas.ts';
import type { CommonConfig } from './config.ts';
import { checkStepInputs } from './step-checks.ts';
import type { Scheduler, SchedulerKind, StepOptions, StepResult } from './types.ts';

/** alphas_cumprod and the alpha_bar used past the first timestep (`set_alpha_to_one`). */
export function alphaSchedule(cfg: CommonConfig & { setAlphaToOne: boolean }): {
  ac: Float64Array;
  finalAlphaCumprod: number;
} {
  const ac = alphasCumprod(cfg);
  return { ac, finalAlphaCumprod: cfg.setAlphaToOne ? 1 : ac[0]! };
}

/** `scaleModelInput` for schedulers that feed the sample to the UNet as is. */
export function unscaledInput(
  className: string,
  sample: Float32Array,
  stepIndex: number,
  numSteps: number,
): Float32Array {
  checkStepInputs(className, stepIndex, numSteps, { sample });
  return sample;
}

export interface AlphaSchedulerParts {
  kind: SchedulerKind;
  className: string;
  generator: NoiseGenerator;
  /** The timesteps for `n` inference steps (validates `n`). */
  schedule(n: number): Float32Array;
  step(
    timesteps: Float32Array,
    modelOutput: Float32Array,
    stepIndex: number,
    sample: Float32Array,
    options?: StepOptions,
  ): StepResult;
}

export function alphaScheduler(parts: AlphaSchedulerParts): Scheduler {
  const { kind, className, generator } = parts;
  let timesteps: Float32Array = new Float32Array(0);
  return {
    kind,
    className,
    generator,
    get timesteps() {
      return timesteps;
    },
    sigmas: null,
    initNoiseSigma: 1,
    setTimesteps(n: number) {
      timesteps = parts.schedule(n);
    },
    scaleModelInput(sample: Float32Array, stepIndex: number) {
      return unscaledInput(className, sample, stepIndex, timesteps.length);
    },
    step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, options?: StepOptions) {
      return parts.step(timesteps, modelOutput, stepIndex, sample, options);
    },
  };
}
