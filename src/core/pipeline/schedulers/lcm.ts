/**
 * Latent Consistency Model multistep sampling (Luo et al. 2023): Diffusers' `LCMScheduler`.
 * Each step maps to the consistency function's `denoised` estimate (boundary-condition scalings
 * c_skip/c_out) and, except at the last step, re-noises it to the next timestep.
 */
import { LorafuseError } from '../../../errors.ts';
import { bool, int, num } from '../../graph/config/json-fields.ts';
import type { NoiseGenerator } from '../noise.ts';
import { alphaSchedule, alphaScheduler } from './alpha-schedule.ts';
import type { CommonConfig, ConfigSource } from './config.ts';
import { readCommon, requireOff } from './config.ts';
import { clipInPlace } from './ddim.ts';
import { alphaPredOriginal } from './prediction.ts';
import { checkStepInputs } from './step-checks.ts';
import type { Scheduler, StepResult } from './types.ts';

export interface LcmConfig extends CommonConfig {
  originalInferenceSteps: number;
  clipSample: boolean;
  clipSampleRange: number;
  setAlphaToOne: boolean;
  timestepScaling: number;
}

const f = Math.fround;
const SIGMA_DATA = 0.5;

export function readLcmConfig(src: ConfigSource): LcmConfig {
  requireOff(src, 'thresholding', 'dynamic thresholding is for pixel-space models, not latent diffusion');
  return {
    ...readCommon(src, {
      betaStart: 0.00085,
      betaEnd: 0.012,
      betaSchedule: 'scaled_linear',
      timestepSpacing: 'leading',
    }),
    originalInferenceSteps: int(src, 'original_inference_steps', 50),
    clipSample: bool(src, 'clip_sample', false),
    clipSampleRange: num(src, 'clip_sample_range', 1),
    setAlphaToOne: bool(src, 'set_alpha_to_one', true),
    timestepScaling: num(src, 'timestep_scaling', 10),
  };
}

/** LCM's inference timesteps: evenly spaced picks from the distillation schedule (k = T / original steps). */
export function lcmTimesteps(cfg: LcmConfig, n: number): Float32Array {
  const original = cfg.originalInferenceSteps;
  const k = Math.floor(cfg.numTrainTimesteps / original);
  if (!Number.isInteger(n) || n < 1 || n > original || Math.floor(original / n) < 1) {
    throw new LorafuseError(
      'invalid-argument',
      `LCMScheduler: the number of inference steps must be an integer from 1 to original_inference_steps (${original}), got ${n}.`,
      { steps: n, originalInferenceSteps: original },
    );
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const index = Math.floor(i * (original / n));
    out[i] = (original - index) * k - 1;
  }
  return out;
}

export function createLcm(cfg: LcmConfig, generator: NoiseGenerator): Scheduler {
  const className = 'LCMScheduler';
  const { ac, finalAlphaCumprod } = alphaSchedule(cfg);
  return alphaScheduler({
    kind: 'lcm',
    className,
    generator,
    schedule: (n) => lcmTimesteps(cfg, n),
    step(timesteps, modelOutput, stepIndex, sample, options): StepResult {
      checkStepInputs(className, stepIndex, timesteps.length, { modelOutput, sample, noise: options?.noise });
      const t = timesteps[stepIndex]!;
      const last = stepIndex === timesteps.length - 1;
      const prevT = last ? t : timesteps[stepIndex + 1]!;
      const alphaProd = ac[t]!;
      const alphaProdPrev = prevT >= 0 ? ac[prevT]! : finalAlphaCumprod;
      const scaled = f(t * f(cfg.timestepScaling));
      const denom = f(f(scaled * scaled) + SIGMA_DATA ** 2);
      const cSkip = f(SIGMA_DATA ** 2 / denom);
      const cOut = f(scaled / f(Math.sqrt(denom)));
      const x0 = alphaPredOriginal(
        modelOutput,
        sample,
        f(Math.sqrt(alphaProd)),
        f(Math.sqrt(f(1 - alphaProd))),
        cfg.predictionType,
      );
      clipInPlace(x0, cfg.clipSample, cfg.clipSampleRange);
      const denoised = new Float32Array(sample.length);
      for (let i = 0; i < denoised.length; i++) denoised[i] = f(f(cOut * x0[i]!) + f(cSkip * sample[i]!));
      if (last) return { prevSample: denoised.slice(), predOriginal: denoised };
      const noise = options?.noise ?? generator.normal(sample.length);
      const a = f(Math.sqrt(alphaProdPrev));
      const b = f(Math.sqrt(f(1 - alphaProdPrev)));
      const prevSample = new Float32Array(sample.length);
      for (let i = 0; i < prevSample.length; i++) prevSample[i] = f(f(a * denoised[i]!) + f(b * noise[i]!));
      return { prevSample, predOriginal: denoised };
    },
  });
}
