/**
 * Inference timesteps from `timestep_spacing` (Table 2 of "Common Diffusion Noise Schedules and
 * Sample Steps are Flawed"), reproducing the numpy expressions Diffusers uses, rounding included
 * (numpy rounds half to even).
 */
import type { TimestepSpacing } from './config.ts';

/** numpy's `round`: halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** numpy.linspace(start, stop, n) in double (endpoint included). */
export function npLinspace(start: number, stop: number, n: number): Float64Array {
  const out = new Float64Array(n);
  const step = n > 1 ? (stop - start) / (n - 1) : 0;
  for (let i = 0; i < n; i++) out[i] = i * step + start;
  if (n > 1) out[n - 1] = stop;
  return out;
}

/** numpy.arange(start, stop, step) in double. */
export function npArange(start: number, stop: number, step: number): Float64Array {
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = start + i * step;
  return out;
}

/**
 * Descending timesteps as Euler, Euler ancestral and DDIM compute them. `roundLinspace` is DDIM's
 * integer rounding of the linspace spacing (Euler keeps fractional timesteps there).
 */
export function spacedTimesteps(
  spacing: TimestepSpacing,
  n: number,
  numTrainTimesteps: number,
  stepsOffset: number,
  roundLinspace: boolean,
): Float64Array {
  if (spacing === 'linspace') {
    const t = npLinspace(0, numTrainTimesteps - 1, n).reverse();
    return roundLinspace ? t.map(roundHalfEven) : t.map(Math.fround);
  }
  if (spacing === 'leading') {
    const ratio = Math.floor(numTrainTimesteps / n);
    const t = new Float64Array(n);
    for (let i = 0; i < n; i++) t[i] = (n - 1 - i) * ratio + stepsOffset;
    return t;
  }
  return npArange(numTrainTimesteps, 0, -numTrainTimesteps / n).map((x) => roundHalfEven(x) - 1);
}

/**
 * DPMSolverMultistep's timesteps: n + 1 points with the last one dropped, up to `lastTimestep`
 * (num_train_timesteps unless `lambda_min_clipped` cuts the tail).
 */
export function dpmTimesteps(
  spacing: TimestepSpacing,
  n: number,
  numTrainTimesteps: number,
  lastTimestep: number,
  stepsOffset: number,
): Float64Array {
  if (spacing === 'linspace') {
    return npLinspace(0, lastTimestep - 1, n + 1)
      .map(roundHalfEven)
      .reverse()
      .slice(0, n);
  }
  if (spacing === 'leading') {
    const ratio = Math.floor(lastTimestep / (n + 1));
    const t = new Float64Array(n);
    for (let i = 0; i < n; i++) t[i] = (n - i) * ratio + stepsOffset;
    return t;
  }
  return npArange(lastTimestep, 0, -numTrainTimesteps / n).map((x) => roundHalfEven(x) - 1);
}
