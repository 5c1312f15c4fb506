/**
 * DDIM (Song et al. 2020, eq. 12) with eta = 0, as Diffusers' `DDIMScheduler` runs it in the
 * Stable Diffusion pipelines: deterministic, clip_sample and set_alpha_to_one honoured.
 */

import { bool, num } from '../../graph/config/json-fields.ts';
import type { NoiseGenerator } from '../noise.ts';
import { alphaSchedule, alphaScheduler } from './alpha-schedule.ts';
import type { CommonConfig, ConfigSource } from './config.ts';
import { checkStepCount, readCommon, requireOff } from './config.ts';
import { alphaPredEpsilon, alphaPredOriginal } from './prediction.ts';
import { checkStepInputs } from './step-checks.ts';
import { spacedTimesteps } from './timesteps.ts';
import type { Scheduler, StepResult } from './types.ts';

export interface DdimConfig extends CommonConfig {
  clipSample: boolean;
  clipSampleRange: number;
  setAlphaToOne: boolean;
}

const f = Math.fround;

export function readDdimConfig(src: ConfigSource): DdimConfig {
  requireOff(src, 'thresholding', 'dynamic thresholding is for pixel-space models, not latent diffusion');
  return {
    ...readCommon(src, {
      betaStart: 0.0001,
      betaEnd: 0.02,
      betaSchedule: 'linear',
      timestepSpacing: 'leading',
    }),
    clipSample: bool(src, 'clip_sample', true),
    clipSampleRange: num(src, 'clip_sample_range', 1),
    setAlphaToOne: bool(src, 'set_alpha_to_one', true),
  };
}

/** Clamps in place to [-range, range] when clipping is on. */
export function clipInPlace(x: Float32Array, on: boolean, range: number): Float32Array {
  if (on) for (let i = 0; i < x.length; i++) x[i] = Math.min(range, Math.max(-range, x[i]!));
  return x;
}

export function createDdim(cfg: DdimConfig, generator: NoiseGenerator): Scheduler {
  const className = 'DDIMScheduler';
  const { ac, finalAlphaCumprod } = alphaSchedule(cfg);
  return alphaScheduler({
    kind: 'ddim',
    className,
    generator,
    schedule(n) {
      checkStepCount(n, cfg.numTrainTimesteps, className);
      return Float32Array.from(
        spacedTimesteps(cfg.timestepSpacing, n, cfg.numTrainTimesteps, cfg.stepsOffset, true),
      );
    },
    step(timesteps, modelOutput, stepIndex, sample): StepResult {
      checkStepInputs(className, stepIndex, timesteps.length, { modelOutput, sample });
      const t = timesteps[stepIndex]!;
      const prevT = t - Math.floor(cfg.numTrainTimesteps / timesteps.length);
      const alphaProd = ac[t]!;
      const alphaProdPrev = prevT >= 0 ? ac[prevT]! : finalAlphaCumprod;
      const alpha = f(Math.sqrt(alphaProd));
      const sigma = f(Math.sqrt(f(1 - alphaProd)));
      const predOriginal = alphaPredOriginal(modelOutput, sample, alpha, sigma, cfg.predictionType);
      const predEpsilon = alphaPredEpsilon(
        modelOutput,
        sample,
        predOriginal,
        alpha,
        sigma,
        cfg.predictionType,
      );
      clipInPlace(predOriginal, cfg.clipSample, cfg.clipSampleRange);
      const alphaPrev = f(Math.sqrt(alphaProdPrev));
      const direction = f(Math.sqrt(f(1 - alphaProdPrev)));
      const prevSample = new Float32Array(sample.length);
      for (let i = 0; i < prevSample.length; i++) {
        prevSample[i] = f(f(alphaPrev * predOriginal[i]!) + f(direction * predEpsilon[i]!));
      }
      return { prevSample, predOriginal };
    },
  });
}
