/**
 * The types that combine A and B separately (`linear`, `ties`, `dare_linear`, `dare_ties`,
 * `magnitude_prune`; PEFT `_generalized_task_arithmetic_weighted_adapter`): with c_i = w_i·s_i,
 * A is merged with weights sign(c_i)·√|c_i| and B with √|c_i| (the sign only on A, so a negative
 * weight is not squared away). All terms must have the same rank; the product has cross terms,
 * so it equals Σ c_i B_i A_i only for a single adapter (peft #3004).
 */
import { LorafuseError } from '../../../errors.ts';
import type { F32Tensor } from '../adapter.ts';
import { moduleId } from '../adapter.ts';
import { resultShapes, type Term } from './term.ts';
import type { TensorMerge } from './types.ts';

export function combineFactorwise(
  terms: readonly Term[],
  merge: TensorMerge,
): { down: F32Tensor; up: F32Tensor } {
  const first = terms[0]!;
  const odd = terms.find((t) => t.rank !== first.rank);
  if (odd) {
    throw new LorafuseError(
      'invalid-argument',
      `module ${moduleId(first.module)} has rank ${first.rank} in ${first.source} but rank ${odd.rank} in ${odd.source}; this combination type merges the factors entry by entry and needs equal ranks. Use 'cat' or an '*svd' type for different ranks.`,
      { module: moduleId(first.module), files: [first.source, odd.source], ranks: [first.rank, odd.rank] },
    );
  }
  const c = terms.map((t) => t.weight * t.scale);
  const root = c.map((x) => Math.sqrt(Math.abs(x)));
  const down = merge(
    terms.map((t) => t.down.data),
    root.map((x, i) => (c[i]! >= 0 ? x : -x)),
  );
  const up = merge(
    terms.map((t) => t.up.data),
    root,
  );
  const shapes = resultShapes(first, first.rank);
  return {
    down: { shape: shapes.down, data: Float32Array.from(down) },
    up: { shape: shapes.up, data: Float32Array.from(up) },
  };
}
