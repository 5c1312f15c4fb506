/**
 * LoHa product (LORA-FORMATS.md 3.2), unscaled: (w1a·w1b) ⊙ (w2a·w2b), shape [out, in*kh*kw];
 * Tucker form: rebuild(t1, w1a, w1b) ⊙ rebuild(t2, w2a, w2b), shape [out, in, kh, kw].
 */
import type { AdapterModule, F32Tensor } from '../adapter.ts';
import { rebuildTucker } from './locon-tucker.ts';
import { hadamard, matmul } from './matmul.ts';
import { cols, factor, rows, shapeMismatch, tensor } from './tensor.ts';

function pairProduct(m: AdapterModule, a: string, b: string, t: string): F32Tensor {
  const wa = factor(m, a);
  const wb = factor(m, b);
  const core = m.factors[t];
  if (core) {
    try {
      return rebuildTucker(core, wa, wb);
    } catch (e) {
      throw shapeMismatch(m, `${t}/${a}/${b}: ${(e as Error).message}`, {
        [t]: core.shape,
        [a]: wa.shape,
        [b]: wb.shape,
      });
    }
  }
  if (cols(wa) !== rows(wb)) {
    throw shapeMismatch(m, `${a} [${wa.shape}] · ${b} [${wb.shape}]: inner dimensions differ`, {
      [a]: wa.shape,
      [b]: wb.shape,
    });
  }
  const out = rows(wa);
  const n = cols(wb);
  return tensor([out, n], matmul(wa.data, wb.data, out, rows(wb), n));
}

export function lohaProduct(m: AdapterModule): F32Tensor {
  const p1 = pairProduct(m, 'w1a', 'w1b', 't1');
  const p2 = pairProduct(m, 'w2a', 'w2b', 't2');
  if (p1.shape.join(',') !== p2.shape.join(',')) {
    throw shapeMismatch(m, `the two Hadamard terms differ in shape: [${p1.shape}] vs [${p2.shape}]`, {
      w1: p1.shape,
      w2: p2.shape,
    });
  }
  return tensor(p1.shape, hadamard(p1.data, p2.data));
}
