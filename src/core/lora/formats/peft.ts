/**
 * diffusers / PEFT format (LORA-FORMATS.md 1.1 rows 1, 4, 12): dotted module path +
 * `.lora_A.weight` / `.lora_B.weight` (`.lora_B.bias`, `.lora_magnitude_vector`), component prefix
 * `unet.` / `text_encoder.` / `text_encoder_2.`, or `base_model.model.` for raw `PeftModel` saves.
 */
import type { PrefixRule, SuffixRule } from './rules.ts';

export const PEFT_SUFFIXES: readonly SuffixRule[] = [
  { suffix: '.lora_A.weight', role: 'lora', factor: 'down' },
  { suffix: '.lora_B.weight', role: 'lora', factor: 'up' },
  { suffix: '.lora_B.bias', role: 'lora', factor: 'bias' },
  // PEFT writes the magnitude without `.weight` and accepts both on load.
  { suffix: '.lora_magnitude_vector', role: 'dora', factor: 'magnitude' },
  { suffix: '.lora_magnitude_vector.weight', role: 'dora', factor: 'magnitude' },
];

/** Component prefixes of diffusers pipeline files (exact, dot included, so TE and TE2 never collide). */
export const DIFFUSERS_PREFIXES: readonly PrefixRule[] = [
  { prefix: 'unet.', component: 'unet' },
  { prefix: 'text_encoder.', component: 'text_encoder' },
  { prefix: 'text_encoder_2.', component: 'text_encoder_2' },
];

/** `PeftModel.save_pretrained` on one model: no component prefix; the path tells the component. */
export const RAW_PEFT_PREFIX: PrefixRule = { prefix: 'base_model.model.', component: null };

/** Header entry holding LoraConfig kwargs per component (`unet.r`, `unet.lora_alpha`, ...). */
export const PEFT_METADATA_KEY = 'lora_adapter_metadata';
