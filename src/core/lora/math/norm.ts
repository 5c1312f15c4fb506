/** LyCORIS norm deltas (LORA-FORMATS.md 3.4): γ' = γ + m·w_norm, β' = β + m·b_norm. */
import type { AdapterModule } from '../adapter.ts';
import type { RawDelta } from './full.ts';
import { factor } from './tensor.ts';

export function normDelta(m: AdapterModule): RawDelta {
  const bias = m.factors.bNorm;
  return bias ? { weight: factor(m, 'wNorm'), bias } : { weight: factor(m, 'wNorm') };
}
