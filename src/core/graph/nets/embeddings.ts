/**
 * diffusers' timestep embeddings (embeddings.py): the sinusoidal `Timesteps` projection and the
 * `TimestepEmbedding` MLP.
 */
import { LorafuseError } from '../../../errors.ts';
import type { GraphBuilder, Value } from '../dsl/builder.ts';
import { concat, cos, mul, sin, unsqueeze } from '../dsl/ops.ts';
import { activation, linear } from './layers.ts';

/**
 * The frequencies of `get_timestep_embedding`, rounded step by step in float32 as torch computes
 * them: `exp(-ln(10000) * i / (half - shift))`.
 */
export function timestepFrequencies(dim: number, freqShift: number): Float32Array {
  const half = Math.floor(dim / 2);
  const f = Math.fround;
  const logMax = f(-Math.log(10000));
  return Float32Array.from({ length: half }, (_, i) => f(Math.exp(f(f(logMax * i) / f(half - freqShift)))));
}

/**
 * `Timesteps(dim, flip_sin_to_cos, freq_shift)`: t [N] -> [N, dim] = `[sin(t f), cos(t f)]`
 * (or `[cos, sin]` when flipped).
 */
export function timestepProjection(
  g: GraphBuilder,
  t: Value,
  dim: number,
  flipSinToCos: boolean,
  freqShift: number,
): Value {
  if (dim % 2 !== 0) {
    throw new LorafuseError(
      'not-implemented',
      `${g.path}: odd timestep embedding width ${dim} is not supported.`,
      {
        module: g.path,
      },
    );
  }
  const freqs = timestepFrequencies(dim, freqShift);
  const args = mul(g, unsqueeze(g, t, [1]), g.constant('float32', [1, freqs.length], [...freqs]));
  const s = sin(g, args);
  const c = cos(g, args);
  return concat(g, flipSinToCos ? [c, s] : [s, c], -1);
}

/** `TimestepEmbedding(in, out)`: `linear_2(act(linear_1(x)))`. */
export function timestepEmbedding(
  g: GraphBuilder,
  x: Value,
  inDim: number,
  outDim: number,
  act: string,
): Value {
  return linear(g, activation(g, linear(g, x, 'linear_1', inDim, outDim), act), 'linear_2', outDim, outDim);
}
