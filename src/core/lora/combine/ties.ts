/**
 * TIES (PEFT `ties`): top-k magnitude pruning of each tensor, sign election over the pruned
 * unweighted stack, then the disjoint mean of the weighted entries that agree with the sign.
 */
import { disjointMean, electSigns, magnitudePrune } from './prune.ts';
import type { MajoritySignMethod, TensorMerge } from './types.ts';

export function tiesMerge(density: number, method: MajoritySignMethod): TensorMerge {
  return (tensors, weights) => {
    const pruned = tensors.map((t) => magnitudePrune(t, density));
    return disjointMean(pruned, weights, electSigns(pruned, method));
  };
}
