/** Magnitude pruning (PEFT `magnitude_prune`): top-k |x| of each tensor, then the weighted sum. */
import { magnitudePrune, weightedSum } from './prune.ts';
import type { TensorMerge } from './types.ts';

export function magnitudePruneMerge(density: number): TensorMerge {
  return (tensors, weights) =>
    weightedSum(
      tensors.map((t) => magnitudePrune(t, density)),
      weights,
    );
}
