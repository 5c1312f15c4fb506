/**
 * Euler (Karras et al. 2022, Algorithm 2, without churn): Diffusers' `EulerDiscreteScheduler`,
 * step for step, including Karras/exponential sigmas, log-linear interpolation,
 * `final_sigmas_type`, continuous v-prediction timesteps and zero-terminal-SNR rescaling.
 */

import { bool } from '../../graph/config/json-fields.ts';
import type { NoiseGenerator } from '../noise.ts';
import { alphasCumprod, linspaceF32 } from './betas.ts';
import type { CommonConfig, ConfigSource } from './config.ts';
import { checkStepCount, DIFFUSERS_DEFAULTS, oneOf, optNum, readCommon, requireOff } from './config.ts';
import { sigmaPredOriginal } from './prediction.ts';
import { exponentialSigmas, interpAtTimesteps, karrasSigmas, sigmaToT, trainSigmas } from './sigmas.ts';
import { checkStepInputs } from './step-checks.ts';
import { spacedTimesteps } from './timesteps.ts';
import type { Scheduler, SchedulerKind, StepOptions, StepResult } from './types.ts';

export interface EulerConfig extends CommonConfig {
  interpolationType: 'linear' | 'log_linear';
  useKarrasSigmas: boolean;
  useExponentialSigmas: boolean;
  sigmaMin: number | null;
  sigmaMax: number | null;
  timestepType: 'discrete' | 'continuous';
  finalSigmasType: 'zero' | 'sigma_min';
}

const f = Math.fround;

export function readEulerConfig(src: ConfigSource): EulerConfig {
  requireOff(src, 'use_beta_sigmas', 'beta sigmas need scipy.stats.beta; use Karras or exponential sigmas');
  return {
    ...readCommon(src, DIFFUSERS_DEFAULTS),
    interpolationType: oneOf(src, 'interpolation_type', ['linear', 'log_linear'], 'linear'),
    useKarrasSigmas: bool(src, 'use_karras_sigmas', false),
    useExponentialSigmas: bool(src, 'use_exponential_sigmas', false),
    sigmaMin: optNum(src, 'sigma_min'),
    sigmaMax: optNum(src, 'sigma_max'),
    timestepType: oneOf(src, 'timestep_type', ['discrete', 'continuous'], 'discrete'),
    finalSigmasType: oneOf(src, 'final_sigmas_type', ['zero', 'sigma_min'], 'zero'),
  };
}

/**
 * Training alphas_cumprod for the k-diffusion schedulers: with zero-terminal-SNR the last one is
 * 2^-24 instead of 0, so its sigma stays finite (as Diffusers does).
 */
export function kdiffusionAlphasCumprod(cfg: CommonConfig): Float64Array {
  const ac = alphasCumprod(cfg);
  if (cfg.rescaleBetasZeroSnr) ac[ac.length - 1] = 2 ** -24;
  return ac;
}

/** `init_noise_sigma`: the largest sigma, or sqrt(sigma^2 + 1) with "leading" spacing. */
export function kdiffusionInitNoiseSigma(
  sigmas: Float32Array | null,
  spacing: CommonConfig['timestepSpacing'],
): number {
  if (!sigmas || sigmas.length === 0) return 1;
  const max = sigmas.reduce((m, s) => Math.max(m, s), Number.NEGATIVE_INFINITY);
  return spacing === 'linspace' || spacing === 'trailing' ? max : f(Math.sqrt(f(f(max * max) + 1)));
}

/** The UNet input x / sqrt(sigma^2 + 1). */
export function kdiffusionScaleInput(sample: Float32Array, sigma: number): Float32Array {
  const denom = f(Math.sqrt(f(f(sigma * sigma) + 1)));
  return sample.map((x) => f(x / denom));
}

function eulerSchedule(
  cfg: EulerConfig,
  ac: Float64Array,
  n: number,
): { timesteps: Float32Array; sigmas: Float32Array } {
  let timesteps = spacedTimesteps(cfg.timestepSpacing, n, cfg.numTrainTimesteps, cfg.stepsOffset, false);
  const train = trainSigmas(ac);
  const logSigmas = train.map((s) => f(Math.log(s)));
  let sigmas =
    cfg.interpolationType === 'linear'
      ? interpAtTimesteps(timesteps, train)
      : linspaceF32(Math.log(train[train.length - 1]!), Math.log(train[0]!), n + 1).map((x) =>
          f(Math.exp(x)),
        );
  if (cfg.useKarrasSigmas || cfg.useExponentialSigmas) {
    const sigmaMin = cfg.sigmaMin ?? sigmas[sigmas.length - 1]!;
    const sigmaMax = cfg.sigmaMax ?? sigmas[0]!;
    sigmas = cfg.useKarrasSigmas
      ? karrasSigmas(sigmaMin, sigmaMax, n)
      : exponentialSigmas(sigmaMin, sigmaMax, n);
    timesteps = sigmas.map((s) => sigmaToT(s, logSigmas));
  }
  const last = cfg.finalSigmasType === 'zero' ? 0 : train[0]!;
  const all = new Float32Array(sigmas.length + 1);
  all.set(sigmas);
  all[sigmas.length] = last;
  const ts =
    cfg.timestepType === 'continuous' && cfg.predictionType === 'v_prediction'
      ? Float32Array.from(all.subarray(0, n), (s) => f(0.25 * f(Math.log(s))))
      : Float32Array.from(timesteps);
  return { timesteps: ts, sigmas: all };
}

export interface KdiffusionSchedulerParts {
  kind: SchedulerKind;
  className: string;
  generator: NoiseGenerator;
  cfg: CommonConfig;
  /** Timesteps and sigmas (one more than steps) for `n` inference steps. */
  schedule(n: number): { timesteps: Float32Array; sigmas: Float32Array };
  step(
    sigmas: Float32Array,
    modelOutput: Float32Array,
    stepIndex: number,
    sample: Float32Array,
    options?: StepOptions,
  ): StepResult;
}

/** The Scheduler shell shared by the k-diffusion samplers (Euler, Euler ancestral). */
export function kdiffusionScheduler(parts: KdiffusionSchedulerParts): Scheduler {
  const { kind, className, generator, cfg } = parts;
  let timesteps: Float32Array = new Float32Array(0);
  let sigmas: Float32Array | null = null;
  return {
    kind,
    className,
    generator,
    get timesteps() {
      return timesteps;
    },
    get sigmas() {
      return sigmas;
    },
    get initNoiseSigma() {
      return kdiffusionInitNoiseSigma(sigmas, cfg.timestepSpacing);
    },
    setTimesteps(n: number) {
      checkStepCount(n, cfg.numTrainTimesteps, className);
      ({ timesteps, sigmas } = parts.schedule(n));
    },
    scaleModelInput(sample: Float32Array, stepIndex: number) {
      checkStepInputs(className, stepIndex, timesteps.length, { sample });
      return kdiffusionScaleInput(sample, sigmas![stepIndex]!);
    },
    step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, options?: StepOptions) {
      checkStepInputs(className, stepIndex, timesteps.length, { modelOutput, sample });
      return parts.step(sigmas!, modelOutput, stepIndex, sample, options);
    },
  };
}

export function createEuler(cfg: EulerConfig, generator: NoiseGenerator): Scheduler {
  const ac = kdiffusionAlphasCumprod(cfg);
  return kdiffusionScheduler({
    kind: 'euler',
    className: 'EulerDiscreteScheduler',
    generator,
    cfg,
    schedule: (n) => eulerSchedule(cfg, ac, n),
    step(sigmas, modelOutput, stepIndex, sample): StepResult {
      const sigma = sigmas[stepIndex]!;
      const dt = f(sigmas[stepIndex + 1]! - sigma);
      const predOriginal = sigmaPredOriginal(modelOutput, sample, sigma, cfg.predictionType);
      const prevSample = new Float32Array(sample.length);
      for (let i = 0; i < prevSample.length; i++) {
        const derivative = f(f(sample[i]! - predOriginal[i]!) / sigma);
        prevSample[i] = f(sample[i]! + f(derivative * dt));
      }
      return { prevSample, predOriginal };
    },
  });
}
