/** LyCORIS full ("diff") and norm deltas (LORA-FORMATS.md 3.4): the stored tensors themselves. */
import type { AdapterModule, F32Tensor } from '../adapter.ts';
import { factor } from './tensor.ts';

export interface RawDelta {
  weight: F32Tensor;
  bias?: F32Tensor;
}

export function fullDelta(m: AdapterModule): RawDelta {
  const bias = m.factors.diffBias;
  return bias ? { weight: factor(m, 'diff'), bias } : { weight: factor(m, 'diff') };
}
