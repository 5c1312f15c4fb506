/**
 * Noise levels (sigma = sqrt((1 - alpha_bar) / alpha_bar)) for the k-diffusion style schedulers:
 * the training sigmas, numpy's `interp`, the Karras et al. (2022) and exponential schedules, and
 * Diffusers' `_sigma_to_t` (piecewise-linear inverse in log sigma).
 */

const f = Math.fround;

/** Training sigmas indexed by timestep (ascending), computed in float32 as torch does. */
export function trainSigmas(alphasCumprod: Float64Array): Float64Array {
  return alphasCumprod.map((a) => f(Math.sqrt(f(f(1 - a) / a))));
}

/** numpy.interp(x, arange(len(fp)), fp) for x within [0, len(fp) - 1]. */
export function interpAtTimesteps(x: Float64Array, fp: Float64Array): Float64Array {
  const last = fp.length - 1;
  return x.map((t) => {
    if (t <= 0) return fp[0]!;
    if (t >= last) return fp[last]!;
    const j = Math.floor(t);
    if (t === j) return fp[j]!;
    const slope = fp[j + 1]! - fp[j]!;
    return slope * (t - j) + fp[j]!;
  });
}

/** Karras et al. (2022) eq. 5 with rho = 7, from sigmaMax down to sigmaMin, in double. */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, n: number, rho = 7): Float64Array {
  const minInv = sigmaMin ** (1 / rho);
  const maxInv = sigmaMax ** (1 / rho);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const ramp = n > 1 ? (i === n - 1 ? 1 : i * (1 / (n - 1))) : 0;
    out[i] = (maxInv + ramp * (minInv - maxInv)) ** rho;
  }
  return out;
}

/** exp(linspace(log sigmaMax, log sigmaMin, n)). */
export function exponentialSigmas(sigmaMin: number, sigmaMax: number, n: number): Float64Array {
  const a = Math.log(sigmaMax);
  const b = Math.log(sigmaMin);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.exp(n > 1 ? (i === n - 1 ? b : i * ((b - a) / (n - 1)) + a) : a);
  return out;
}

/**
 * The (fractional) training timestep whose sigma is `sigma`: linear in log sigma between the two
 * neighbouring training sigmas, as Diffusers' `_sigma_to_t` (same argmax-of-cumsum neighbour rule).
 */
export function sigmaToT(sigma: number, logSigmas: Float64Array): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  let count = 0;
  let best = 0;
  let lowIdx = 0;
  for (let j = 0; j < logSigmas.length; j++) {
    if (logSigma - logSigmas[j]! >= 0) count++;
    if (count > best) {
      best = count;
      lowIdx = j;
    }
  }
  lowIdx = Math.min(lowIdx, logSigmas.length - 2);
  const low = logSigmas[lowIdx]!;
  const high = logSigmas[lowIdx + 1]!;
  const w = Math.min(1, Math.max(0, (low - logSigma) / (low - high)));
  return (1 - w) * lowIdx + w * (lowIdx + 1);
}
