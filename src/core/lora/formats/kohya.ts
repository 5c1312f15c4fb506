/**
 * kohya / sd-scripts LoRA and LoCon (LORA-FORMATS.md 1.1 rows 5, 6, 11, 13): flat module names
 * `lora_unet_<path with . -> _>`, `lora_te_` / `lora_te1_` (first text encoder), `lora_te2_`
 * (second), resolved through the reverse index of kohya-index.ts (2.2), never by `_` -> `.`.
 */
import type { PrefixRule, SuffixRule } from './rules.ts';

export const KOHYA_PREFIXES: readonly PrefixRule[] = [
  { prefix: 'lora_unet_', component: 'unet' },
  { prefix: 'lora_te_', component: 'text_encoder' },
  { prefix: 'lora_te1_', component: 'text_encoder' },
  { prefix: 'lora_te2_', component: 'text_encoder_2' },
];

export const KOHYA_SUFFIXES: readonly SuffixRule[] = [
  { suffix: '.lora_down.weight', role: 'lora', factor: 'down' },
  { suffix: '.lora_up.weight', role: 'lora', factor: 'up' },
  // LoCon Tucker (LyCORIS `use_tucker`): down is then [r,in,1,1].
  { suffix: '.lora_mid.weight', role: 'lora', factor: 'mid' },
  { suffix: '.alpha', role: 'alpha', factor: 'alpha' },
  // LyCORIS/kohya DoRA; the axis is decided by the shape (convert.ts).
  { suffix: '.dora_scale', role: 'dora', factor: 'magnitude' },
];
