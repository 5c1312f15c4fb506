/**
 * DPM-Solver++ multistep (Lu et al. 2022, "DPM-Solver++", Algorithm 2), i.e. "DPM++ 2M" and, with
 * Karras sigmas, "DPM++ 2M Karras": Diffusers' `DPMSolverMultistepScheduler` with
 * algorithm_type "dpmsolver++" (orders 1-3, midpoint or heun second-order rule, the lower-order
 * final steps it uses below 15 steps).
 *
 * Stateful: it keeps the previous x0 predictions, so steps must run in order 0, 1, 2, ...
 * (step 0 starts a new run).
 */
import { LorafuseError } from '../../../errors.ts';
import { bool, int, invalidField, unsupported } from '../../graph/config/json-fields.ts';
import type { NoiseGenerator } from '../noise.ts';
import { unscaledInput } from './alpha-schedule.ts';
import { alphasCumprod } from './betas.ts';
import type { CommonConfig, ConfigSource } from './config.ts';
import { checkStepCount, DIFFUSERS_DEFAULTS, oneOf, optNum, readCommon, requireOff } from './config.ts';
import { alphaPredOriginal } from './prediction.ts';
import { interpAtTimesteps, karrasSigmas, sigmaToT, trainSigmas } from './sigmas.ts';
import { checkStepInputs } from './step-checks.ts';
import { dpmTimesteps, roundHalfEven } from './timesteps.ts';
import type { Scheduler, StepOptions, StepResult } from './types.ts';

export interface DpmSolverConfig extends CommonConfig {
  solverOrder: 1 | 2 | 3;
  solverType: 'midpoint' | 'heun';
  lowerOrderFinal: boolean;
  eulerAtFinal: boolean;
  useKarrasSigmas: boolean;
  finalSigmasType: 'zero' | 'sigma_min';
  lambdaMinClipped: number;
}

const f = Math.fround;

export function readDpmSolverConfig(src: ConfigSource): DpmSolverConfig {
  const why = 'only DPM-Solver++ with discrete, Karras or plain sigmas is implemented';
  for (const key of [
    'thresholding',
    'use_exponential_sigmas',
    'use_beta_sigmas',
    'use_lu_lambdas',
    'use_flow_sigmas',
    'use_dynamic_shifting',
  ]) {
    requireOff(src, key, why);
  }
  const algorithm = oneOf(
    src,
    'algorithm_type',
    ['dpmsolver++', 'dpmsolver', 'sde-dpmsolver', 'sde-dpmsolver++'],
    'dpmsolver++',
  );
  if (algorithm !== 'dpmsolver++') throw unsupported(src, 'algorithm_type', why);
  if (src.json.variance_type != null)
    throw unsupported(src, 'variance_type', 'learned variance is not used by Stable Diffusion');
  const solverOrder = int(src, 'solver_order', 2);
  if (solverOrder < 1 || solverOrder > 3) throw invalidField(src, 'solver_order', '1, 2 or 3');
  return {
    ...readCommon(src, DIFFUSERS_DEFAULTS),
    solverOrder: solverOrder as 1 | 2 | 3,
    solverType: oneOf(src, 'solver_type', ['midpoint', 'heun'], 'midpoint'),
    lowerOrderFinal: bool(src, 'lower_order_final', true),
    eulerAtFinal: bool(src, 'euler_at_final', false),
    useKarrasSigmas: bool(src, 'use_karras_sigmas', false),
    finalSigmasType: oneOf(src, 'final_sigmas_type', ['zero', 'sigma_min'], 'zero'),
    lambdaMinClipped: optNum(src, 'lambda_min_clipped') ?? Number.NEGATIVE_INFINITY,
  };
}

/** alpha_t = 1 / sqrt(sigma^2 + 1), sigma_t = sigma * alpha_t, lambda = log alpha_t - log sigma_t. */
function vp(sigma: number): { alpha: number; sigma: number; lambda: number } {
  const alpha = f(1 / f(Math.sqrt(f(f(sigma * sigma) + 1))));
  const s = f(sigma * alpha);
  return { alpha, sigma: s, lambda: f(f(Math.log(alpha)) - f(Math.log(s))) };
}

function dpmSchedule(
  cfg: DpmSolverConfig,
  ac: Float64Array,
  n: number,
): { timesteps: Float32Array; sigmas: Float32Array } {
  // lambda_min_clipped: the timesteps whose log-SNR falls below it are cut from the end.
  const lambdas = ac.map((a) => f(f(Math.log(f(Math.sqrt(a)))) - f(Math.log(f(Math.sqrt(f(1 - a)))))));
  let clipped = 0;
  for (let i = lambdas.length - 1; i >= 0 && lambdas[i]! < cfg.lambdaMinClipped; i--) clipped++;
  const lastTimestep = cfg.numTrainTimesteps - clipped;
  let timesteps = dpmTimesteps(cfg.timestepSpacing, n, cfg.numTrainTimesteps, lastTimestep, cfg.stepsOffset);
  const train = trainSigmas(ac);
  let sigmas: Float64Array;
  if (cfg.useKarrasSigmas) {
    const logSigmas = train.map((s) => f(Math.log(s)));
    sigmas = karrasSigmas(train[0]!, train[train.length - 1]!, n);
    timesteps = sigmas.map((s) => roundHalfEven(sigmaToT(s, logSigmas)));
  } else {
    sigmas = interpAtTimesteps(timesteps, train);
  }
  const last = cfg.finalSigmasType === 'zero' ? 0 : train[0]!;
  const all = new Float32Array(n + 1);
  all.set(sigmas);
  all[n] = last;
  return { timesteps: Float32Array.from(timesteps), sigmas: all };
}

export function createDpmSolver(cfg: DpmSolverConfig, generator: NoiseGenerator, karras: boolean): Scheduler {
  const className = 'DPMSolverMultistepScheduler';
  const ac = alphasCumprod(cfg);
  let timesteps: Float32Array = new Float32Array(0);
  let sigmas: Float32Array | null = null;
  let history: Float32Array[] = []; // x0 predictions, newest last
  let nextStep = 0;

  return {
    kind: karras ? 'dpmpp-2m-karras' : 'dpmpp-2m',
    className,
    generator,
    get timesteps() {
      return timesteps;
    },
    get sigmas() {
      return sigmas;
    },
    initNoiseSigma: 1,
    setTimesteps(n: number) {
      checkStepCount(n, cfg.numTrainTimesteps, className);
      ({ timesteps, sigmas } = dpmSchedule(cfg, ac, n));
      history = [];
      nextStep = 0;
    },
    scaleModelInput(sample: Float32Array, stepIndex: number) {
      return unscaledInput(className, sample, stepIndex, timesteps.length);
    },
    step(
      modelOutput: Float32Array,
      stepIndex: number,
      sample: Float32Array,
      _options?: StepOptions,
    ): StepResult {
      checkStepInputs(className, stepIndex, timesteps.length, { modelOutput, sample });
      if (stepIndex === 0) {
        history = [];
        nextStep = 0;
      }
      if (stepIndex !== nextStep) {
        throw new LorafuseError(
          'invalid-argument',
          `${className}: steps must run in order; expected step ${nextStep}, got ${stepIndex}.`,
          { expected: nextStep, got: stepIndex },
        );
      }
      const n = timesteps.length;
      const s = sigmas!;
      const lowerOrderFinal =
        stepIndex === n - 1 &&
        (cfg.eulerAtFinal || (cfg.lowerOrderFinal && n < 15) || cfg.finalSigmasType === 'zero');
      const lowerOrderSecond = stepIndex === n - 2 && cfg.lowerOrderFinal && n < 15;

      const cur = vp(s[stepIndex]!);
      const x0 = alphaPredOriginal(modelOutput, sample, cur.alpha, cur.sigma, cfg.predictionType);
      history.push(x0);
      if (history.length > cfg.solverOrder) history.shift();
      const previous = stepIndex; // how many model outputs came before this one
      const order =
        cfg.solverOrder === 1 || previous < 1 || lowerOrderFinal
          ? 1
          : cfg.solverOrder === 2 || previous < 2 || lowerOrderSecond
            ? 2
            : 3;

      const to = vp(s[stepIndex + 1]!);
      const h = f(to.lambda - cur.lambda);
      const ratio = f(to.sigma / cur.sigma);
      const expm1 = f(f(Math.exp(-h)) - 1); // torch.exp(-h) - 1.0
      const c0 = f(to.alpha * expm1);
      const prevSample = new Float32Array(sample.length);
      const m0 = history[history.length - 1]!;
      if (order === 1) {
        for (let i = 0; i < prevSample.length; i++) prevSample[i] = f(f(ratio * sample[i]!) - f(c0 * m0[i]!));
      } else if (order === 2) {
        const m1 = history[history.length - 2]!;
        const s1 = vp(s[stepIndex - 1]!);
        const h0 = f(cur.lambda - s1.lambda);
        const r0 = f(h0 / h);
        const invR0 = f(1 / r0);
        // midpoint: x -= 0.5 * c0 * D1; heun: x += alpha_t * ((exp(-h) - 1) / h + 1) * D1
        const c1 = cfg.solverType === 'midpoint' ? f(0.5 * c0) : -f(to.alpha * f(f(expm1 / h) + 1));
        for (let i = 0; i < prevSample.length; i++) {
          const d1 = f(invR0 * f(m0[i]! - m1[i]!));
          prevSample[i] = f(f(f(ratio * sample[i]!) - f(c0 * m0[i]!)) - f(c1 * d1));
        }
      } else {
        const m1 = history[history.length - 2]!;
        const m2 = history[history.length - 3]!;
        const s1 = vp(s[stepIndex - 1]!);
        const s2 = vp(s[stepIndex - 2]!);
        const h0 = f(cur.lambda - s1.lambda);
        const h1 = f(s1.lambda - s2.lambda);
        const r0 = f(h0 / h);
        const r1 = f(h1 / h);
        const cA = f(to.alpha * f(f(expm1 / h) + 1));
        const cB = f(to.alpha * f(f(f(expm1 + h) / f(h * h)) - 0.5));
        for (let i = 0; i < prevSample.length; i++) {
          const d1_0 = f(f(1 / r0) * f(m0[i]! - m1[i]!));
          const d1_1 = f(f(1 / r1) * f(m1[i]! - m2[i]!));
          const d1 = f(d1_0 + f(f(r0 / f(r0 + r1)) * f(d1_0 - d1_1)));
          const d2 = f(f(1 / f(r0 + r1)) * f(d1_0 - d1_1));
          prevSample[i] = f(f(f(f(ratio * sample[i]!) - f(c0 * m0[i]!)) + f(cA * d1)) - f(cB * d2));
        }
      }
      nextStep = stepIndex + 1;
      return { prevSample, predOriginal: x0 };
    },
  };
}
