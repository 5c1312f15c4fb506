/**
 * diffusers "LoRACompatible" era (training scripts of 2023, LORA-FORMATS.md 1.1 row 2):
 * `unet.<module>.lora.down.weight` / `.lora.up.weight`; text encoders
 * `<module>.lora_linear_layer.down.weight` / `.up.weight`. No alphas (alpha = rank).
 */
import type { SuffixRule } from './rules.ts';

export const DIFFUSERS_2023_SUFFIXES: readonly SuffixRule[] = [
  { suffix: '.lora.down.weight', role: 'lora', factor: 'down' },
  { suffix: '.lora.up.weight', role: 'lora', factor: 'up' },
  { suffix: '.lora_linear_layer.down.weight', role: 'lora', factor: 'down' },
  { suffix: '.lora_linear_layer.up.weight', role: 'lora', factor: 'up' },
];
