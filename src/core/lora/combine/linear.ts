/** Task arithmetic (PEFT `task_arithmetic`): the weighted sum Σ w_i x_i of the stack. */
import { weightedSum } from './prune.ts';
import type { TensorMerge } from './types.ts';

export const linearMerge: TensorMerge = (tensors, weights) => weightedSum(tensors, weights);
