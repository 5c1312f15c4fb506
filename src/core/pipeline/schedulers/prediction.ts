/**
 * From a model output to the predicted clean sample x0 (and noise), for the three Diffusers
 * parametrisations, element by element in float32 as torch computes them.
 */
import type { PredictionType } from './types.ts';

const f = Math.fround;

/**
 * k-diffusion parametrisation (x_t = x0 + sigma * eps), used by Euler and Euler ancestral:
 * epsilon: x0 = x - sigma * out; v: x0 = out * (-sigma / sqrt(sigma^2 + 1)) + x / (sigma^2 + 1).
 */
export function sigmaPredOriginal(
  modelOutput: Float32Array,
  sample: Float32Array,
  sigma: number,
  predictionType: PredictionType,
): Float32Array {
  const out = new Float32Array(sample.length);
  if (predictionType === 'epsilon') {
    for (let i = 0; i < out.length; i++) out[i] = f(sample[i]! - f(sigma * modelOutput[i]!));
  } else if (predictionType === 'v_prediction') {
    const s2p1 = f(f(sigma * sigma) + 1);
    const cOut = f(-sigma / f(Math.sqrt(s2p1)));
    for (let i = 0; i < out.length; i++) out[i] = f(f(modelOutput[i]! * cOut) + f(sample[i]! / s2p1));
  } else {
    out.set(modelOutput);
  }
  return out;
}

/**
 * Variance-preserving parametrisation (x_t = alpha * x0 + sigma * eps), used by DDIM, LCM and
 * DPM-Solver: epsilon: x0 = (x - sigma * out) / alpha; v: x0 = alpha * x - sigma * out.
 */
export function alphaPredOriginal(
  modelOutput: Float32Array,
  sample: Float32Array,
  alpha: number,
  sigma: number,
  predictionType: PredictionType,
): Float32Array {
  const out = new Float32Array(sample.length);
  if (predictionType === 'epsilon') {
    for (let i = 0; i < out.length; i++) out[i] = f(f(sample[i]! - f(sigma * modelOutput[i]!)) / alpha);
  } else if (predictionType === 'v_prediction') {
    for (let i = 0; i < out.length; i++) out[i] = f(f(alpha * sample[i]!) - f(sigma * modelOutput[i]!));
  } else {
    out.set(modelOutput);
  }
  return out;
}

/** The noise estimate that goes with `alphaPredOriginal` (DDIM's `pred_epsilon`). */
export function alphaPredEpsilon(
  modelOutput: Float32Array,
  sample: Float32Array,
  predOriginal: Float32Array,
  alpha: number,
  sigma: number,
  predictionType: PredictionType,
): Float32Array {
  if (predictionType === 'epsilon') return modelOutput;
  const out = new Float32Array(sample.length);
  if (predictionType === 'v_prediction') {
    for (let i = 0; i < out.length; i++) out[i] = f(f(alpha * modelOutput[i]!) + f(sigma * sample[i]!));
  } else {
    for (let i = 0; i < out.length; i++) out[i] = f(f(sample[i]! - f(alpha * predOriginal[i]!)) / sigma);
  }
  return out;
}
