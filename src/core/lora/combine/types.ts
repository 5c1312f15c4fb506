/**
 * Names and options of the LoRA combination methods (PEFT `add_weighted_adapter`,
 * LORA-FORMATS.md section 4), shared by the per-method files and `combineAdapters`.
 */

export type CombinationType =
  | 'linear'
  | 'cat'
  | 'svd'
  | 'ties'
  | 'ties_svd'
  | 'dare_linear'
  | 'dare_ties'
  | 'dare_linear_svd'
  | 'dare_ties_svd'
  | 'magnitude_prune'
  | 'magnitude_prune_svd';

export const COMBINATION_TYPES: readonly CombinationType[] = [
  'linear',
  'cat',
  'svd',
  'ties',
  'ties_svd',
  'dare_linear',
  'dare_ties',
  'dare_linear_svd',
  'dare_ties_svd',
  'magnitude_prune',
  'magnitude_prune_svd',
];

export type MajoritySignMethod = 'total' | 'frequency';

export interface CombineOptions {
  combinationType: CombinationType;
  /** Fraction of values kept by the pruning types (required for them); >= 1 keeps everything. */
  density?: number;
  /** TIES sign election: sign of the sum (`total`, default) or of the sum of signs (`frequency`). */
  majoritySignMethod?: MajoritySignMethod;
  /** Rank of an `*svd` result (default: the largest input rank). */
  svdRank?: number;
  /** Quantile q in [0, 1]: clamp the SVD factors to ±quantile(concat(B, A), q). */
  svdClamp?: number;
  /** Seed of DARE's keep masks (default 0): same seed, same result. */
  seed?: number;
}

/** The rule that merges a stack of same-shaped tensors (PEFT `merge_utils`), without the SVD. */
export type MergeRule = 'linear' | 'ties' | 'dare_linear' | 'dare_ties' | 'magnitude_prune';

/** A flat tensor as the rules read it. */
export type Values = Float32Array | Float64Array;

/** Merges tensors of equal length with one weight each; returns a new float64 array. */
export type TensorMerge = (tensors: readonly Values[], weights: readonly number[]) => Float64Array;
