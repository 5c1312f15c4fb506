/**
 * DARE (PEFT `dare_linear`, `dare_ties`): each tensor keeps every entry with probability
 * `density` and is rescaled by 1/density (prune.ts `randomPrune`, seeded); then the weighted sum
 * (`dare_linear`) or TIES' sign election and disjoint mean (`dare_ties`). The stream is drawn in
 * call order, tensor after tensor, so one seed fixes the whole combination.
 */
import { disjointMean, electSigns, randomPrune, weightedSum } from './prune.ts';
import type { UniformStream } from './rng.ts';
import type { MajoritySignMethod, TensorMerge } from './types.ts';

export function dareLinearMerge(density: number, rng: UniformStream): TensorMerge {
  return (tensors, weights) =>
    weightedSum(
      tensors.map((t) => randomPrune(t, density, rng)),
      weights,
    );
}

export function dareTiesMerge(density: number, method: MajoritySignMethod, rng: UniformStream): TensorMerge {
  return (tensors, weights) => {
    const pruned = tensors.map((t) => randomPrune(t, density, rng));
    return disjointMean(pruned, weights, electSigns(pruned, method));
  };
}
