/**
 * The training noise schedule (betas and alphas_cumprod) the way Diffusers builds it in torch
 * float32: `torch.linspace` in float32 (first half counted up from the start, second half down from
 * the end), `cumprod` accumulated in double and stored in float32. Values are float32 numbers held
 * in Float64Arrays so later numpy-side math (done in double by Diffusers) stays double.
 */
import { LorafuseError } from '../../../errors.ts';

export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';

export interface NoiseScheduleConfig {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: BetaSchedule;
  trainedBetas: number[] | null;
  rescaleBetasZeroSnr: boolean;
}

const f = Math.fround;

/** torch.linspace(start, end, n, dtype=float32) on CPU. */
export function linspaceF32(start: number, end: number, n: number): Float64Array {
  const out = new Float64Array(n);
  if (n === 1) {
    out[0] = f(start);
    return out;
  }
  const a = f(start);
  const b = f(end);
  const step = f((b - a) / (n - 1));
  const half = Math.floor(n / 2);
  for (let i = 0; i < n; i++) out[i] = i < half ? f(a + f(step * i)) : f(b - f(step * (n - i - 1)));
  return out;
}

/** Diffusers' `betas_for_alpha_bar` with the cosine transform (`squaredcos_cap_v2`). */
function cosineBetas(n: number, maxBeta = 0.999): Float64Array {
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = f(Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), maxBeta));
  return out;
}

/** cumprod(1 - betas) in float32 storage (torch's CPU cumprod accumulates float in double). */
export function cumprodAlphas(betas: Float64Array): Float64Array {
  const out = new Float64Array(betas.length);
  let acc = 1;
  for (let i = 0; i < betas.length; i++) {
    acc *= f(1 - betas[i]!);
    out[i] = f(acc);
  }
  return out;
}

/** Diffusers' `rescale_zero_terminal_snr` (Lin et al. 2023, Algorithm 1), in float32 steps. */
function rescaleZeroTerminalSnr(betas: Float64Array): Float64Array {
  const sqrtBar = cumprodAlphas(betas).map((a) => f(Math.sqrt(a)));
  const first = sqrtBar[0]!;
  const last = sqrtBar[sqrtBar.length - 1]!;
  const scale = f(first / f(first - last));
  const bar = sqrtBar.map((s) => {
    const shifted = f(f(s - last) * scale);
    return f(shifted * shifted);
  });
  const out = new Float64Array(betas.length);
  for (let i = 0; i < bar.length; i++) {
    const alpha = i === 0 ? bar[0]! : f(bar[i]! / bar[i - 1]!);
    out[i] = f(1 - alpha);
  }
  return out;
}

export function makeBetas(cfg: NoiseScheduleConfig): Float64Array {
  let betas: Float64Array;
  if (cfg.trainedBetas) {
    betas = Float64Array.from(cfg.trainedBetas, (b) => f(b));
  } else if (cfg.betaSchedule === 'linear') {
    betas = linspaceF32(cfg.betaStart, cfg.betaEnd, cfg.numTrainTimesteps);
  } else if (cfg.betaSchedule === 'scaled_linear') {
    betas = linspaceF32(Math.sqrt(cfg.betaStart), Math.sqrt(cfg.betaEnd), cfg.numTrainTimesteps).map((b) =>
      f(b * b),
    );
  } else if (cfg.betaSchedule === 'squaredcos_cap_v2') {
    betas = cosineBetas(cfg.numTrainTimesteps);
  } else {
    throw new LorafuseError('config-invalid', `Unknown beta_schedule '${String(cfg.betaSchedule)}'.`, {
      key: 'beta_schedule',
    });
  }
  return cfg.rescaleBetasZeroSnr ? rescaleZeroTerminalSnr(betas) : betas;
}

/** alphas_cumprod for the config (float32 values). */
export function alphasCumprod(cfg: NoiseScheduleConfig): Float64Array {
  return cumprodAlphas(makeBetas(cfg));
}
