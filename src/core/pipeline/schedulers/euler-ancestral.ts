/**
 * Euler ancestral (k-diffusion `sample_euler_ancestral`): Diffusers'
 * `EulerAncestralDiscreteScheduler`. Each step goes down to sigma_down deterministically and adds
 * fresh noise scaled by sigma_up; the noise is drawn at every step (also the last, where
 * sigma_up = 0), so a seeded stream advances the same way Diffusers' generator does.
 */

import { unsupported } from '../../graph/config/json-fields.ts';
import type { NoiseGenerator } from '../noise.ts';
import type { CommonConfig, ConfigSource } from './config.ts';
import { DIFFUSERS_DEFAULTS, readCommon } from './config.ts';
import { kdiffusionAlphasCumprod, kdiffusionScheduler } from './euler.ts';
import { sigmaPredOriginal } from './prediction.ts';
import { interpAtTimesteps, trainSigmas } from './sigmas.ts';
import { checkStepInputs } from './step-checks.ts';
import { spacedTimesteps } from './timesteps.ts';
import type { Scheduler, StepResult } from './types.ts';

export type EulerAncestralConfig = CommonConfig;

const f = Math.fround;

export function readEulerAncestralConfig(src: ConfigSource): EulerAncestralConfig {
  const cfg = readCommon(src, DIFFUSERS_DEFAULTS);
  if (cfg.predictionType === 'sample') {
    throw unsupported(src, 'prediction_type', 'Diffusers has no Euler ancestral step for sample prediction');
  }
  return cfg;
}

export function createEulerAncestral(cfg: EulerAncestralConfig, generator: NoiseGenerator): Scheduler {
  const className = 'EulerAncestralDiscreteScheduler';
  const train = trainSigmas(kdiffusionAlphasCumprod(cfg));
  return kdiffusionScheduler({
    kind: 'euler-a',
    className,
    generator,
    cfg,
    schedule(n) {
      const t = spacedTimesteps(cfg.timestepSpacing, n, cfg.numTrainTimesteps, cfg.stepsOffset, false);
      const s = new Float32Array(n + 1);
      s.set(interpAtTimesteps(t, train));
      return { timesteps: Float32Array.from(t), sigmas: s };
    },
    step(sigmas, modelOutput, stepIndex, sample, options): StepResult {
      // The shell checked modelOutput against sample; the noise must match them too.
      checkStepInputs(className, stepIndex, sigmas.length - 1, { modelOutput, noise: options?.noise });
      const sigmaFrom = sigmas[stepIndex]!;
      const sigmaTo = sigmas[stepIndex + 1]!;
      const from2 = f(sigmaFrom * sigmaFrom);
      const to2 = f(sigmaTo * sigmaTo);
      const sigmaUp = f(Math.sqrt(f(f(to2 * f(from2 - to2)) / from2)));
      const sigmaDown = f(Math.sqrt(f(to2 - f(sigmaUp * sigmaUp))));
      const dt = f(sigmaDown - sigmaFrom);
      const noise = options?.noise ?? generator.normal(sample.length);
      const predOriginal = sigmaPredOriginal(modelOutput, sample, sigmaFrom, cfg.predictionType);
      const prevSample = new Float32Array(sample.length);
      for (let i = 0; i < prevSample.length; i++) {
        const derivative = f(f(sample[i]! - predOriginal[i]!) / sigmaFrom);
        const down = f(sample[i]! + f(derivative * dt));
        prevSample[i] = f(down + f(noise[i]! * sigmaUp));
      }
      return { prevSample, predOriginal };
    },
  });
}
