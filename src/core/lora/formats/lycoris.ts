/**
 * LyCORIS algorithms on kohya-named modules (LORA-FORMATS.md 1.1 rows 7-10): LoHa (incl. Tucker),
 * LoKr (every factor variant), full `diff`/`diff_b`, norm `w_norm`/`b_norm`. Algorithms we do not
 * apply are recognised and reported with a reason instead of an "unknown key".
 */
import type { SuffixRule, UnsupportedRule } from './rules.ts';

export const LYCORIS_SUFFIXES: readonly SuffixRule[] = [
  { suffix: '.hada_w1_a', role: 'loha', factor: 'w1a' },
  { suffix: '.hada_w1_b', role: 'loha', factor: 'w1b' },
  { suffix: '.hada_w2_a', role: 'loha', factor: 'w2a' },
  { suffix: '.hada_w2_b', role: 'loha', factor: 'w2b' },
  { suffix: '.hada_t1', role: 'loha', factor: 't1' },
  { suffix: '.hada_t2', role: 'loha', factor: 't2' },
  { suffix: '.lokr_w1', role: 'lokr', factor: 'w1' },
  { suffix: '.lokr_w1_a', role: 'lokr', factor: 'w1a' },
  { suffix: '.lokr_w1_b', role: 'lokr', factor: 'w1b' },
  { suffix: '.lokr_w2', role: 'lokr', factor: 'w2' },
  { suffix: '.lokr_w2_a', role: 'lokr', factor: 'w2a' },
  { suffix: '.lokr_w2_b', role: 'lokr', factor: 'w2b' },
  { suffix: '.lokr_t2', role: 'lokr', factor: 't2' },
  { suffix: '.diff', role: 'full', factor: 'diff' },
  { suffix: '.diff_b', role: 'full', factor: 'diffBias' },
  { suffix: '.w_norm', role: 'norm', factor: 'wNorm' },
  { suffix: '.b_norm', role: 'norm', factor: 'bNorm' },
];

export const LYCORIS_UNSUPPORTED: readonly UnsupportedRule[] = [
  { suffix: '.on_input', reason: 'LyCORIS IA3 is not supported' },
  { suffix: '.oft_blocks', reason: 'LyCORIS OFT/BOFT is not supported' },
  { suffix: '.oft_diag', reason: 'LyCORIS Diag-OFT is not supported' },
  { suffix: '.rescale', reason: 'LyCORIS OFT rescale is not supported' },
  { suffix: '.a1.weight', reason: 'LyCORIS GLoRA is not supported' },
  { suffix: '.a2.weight', reason: 'LyCORIS GLoRA is not supported' },
  { suffix: '.b1.weight', reason: 'LyCORIS GLoRA is not supported' },
  { suffix: '.b2.weight', reason: 'LyCORIS GLoRA is not supported' },
];
