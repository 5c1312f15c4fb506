/**
 * `cat` (PEFT): A_new = rows-concat(w_i·s_i·A_i), B_new = columns-concat(B_i), so that
 * B_new·A_new = Σ w_i s_i B_i A_i exactly. Terms are packed in adapter order and zero-padded to
 * the result's rank (the sum of the adapters' ranks), as PEFT does when a module is missing from
 * an adapter.
 */
import type { F32Tensor } from '../adapter.ts';
import { resultShapes, type Term } from './term.ts';

export function combineCat(terms: readonly Term[], rank: number): { down: F32Tensor; up: F32Tensor } {
  const first = terms[0]!;
  const { out, cols } = first;
  const down = new Float32Array(rank * cols);
  const up = new Float32Array(out * rank);
  let offset = 0;
  for (const t of terms) {
    const k = t.weight * t.scale;
    const a = t.down.data;
    for (let i = 0; i < t.rank * cols; i++) down[offset * cols + i] = a[i]! * k;
    const b = t.up.data;
    for (let o = 0; o < out; o++)
      for (let j = 0; j < t.rank; j++) up[o * rank + offset + j] = b[o * t.rank + j]!;
    offset += t.rank;
  }
  const shapes = resultShapes(first, rank);
  return { down: { shape: shapes.down, data: down }, up: { shape: shapes.up, data: up } };
}
