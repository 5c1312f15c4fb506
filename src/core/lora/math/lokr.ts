/**
 * LoKr product (LORA-FORMATS.md 3.3), unscaled: kron(W1, W2), W1 = w1 or w1a·w1b ([a,c]),
 * W2 = w2, w2a·w2b or Tucker(t2, w2a, w2b) ([b, d(,kh,kw)]). Shape [a*b, c*d(,kh,kw)].
 */
import type { AdapterModule, F32Tensor } from '../adapter.ts';
import { kron } from './kron.ts';
import { rebuildTucker } from './locon-tucker.ts';
import { matmul } from './matmul.ts';
import { cols, factor, rows, shapeMismatch, tensor } from './tensor.ts';

/** Both Kronecker factors stored whole: LyCORIS then ignores alpha (scale 1). */
export function lokrIsFull(m: AdapterModule): boolean {
  return m.factors.w1 !== undefined && m.factors.w2 !== undefined;
}

function product(m: AdapterModule, a: string, b: string): F32Tensor {
  const wa = factor(m, a);
  const wb = factor(m, b);
  if (cols(wa) !== rows(wb)) {
    throw shapeMismatch(m, `${a} [${wa.shape}] · ${b} [${wb.shape}]: inner dimensions differ`, {
      [a]: wa.shape,
      [b]: wb.shape,
    });
  }
  return tensor([rows(wa), ...wb.shape.slice(1)], matmul(wa.data, wb.data, rows(wa), rows(wb), cols(wb)));
}

function secondFactor(m: AdapterModule): F32Tensor {
  if (m.factors.w2) return m.factors.w2;
  const t2 = m.factors.t2;
  if (t2) {
    const wa = factor(m, 'w2a');
    const wb = factor(m, 'w2b');
    try {
      return rebuildTucker(t2, wa, wb);
    } catch (e) {
      throw shapeMismatch(m, `t2/w2a/w2b: ${(e as Error).message}`, {
        t2: t2.shape,
        w2a: wa.shape,
        w2b: wb.shape,
      });
    }
  }
  return product(m, 'w2a', 'w2b');
}

export function lokrProduct(m: AdapterModule): F32Tensor {
  const w1 = m.factors.w1 ?? product(m, 'w1a', 'w1b');
  const w2 = secondFactor(m);
  const a = rows(w1);
  const c = cols(w1);
  const b = rows(w2);
  const dk = cols(w2);
  const data = kron(w1.data, a, c, w2.data, b, dk);
  const shape = w2.shape.length > 2 ? [a * b, c * (w2.shape[1] ?? 1), ...w2.shape.slice(2)] : [a * b, c * dk];
  return tensor(shape, data);
}
