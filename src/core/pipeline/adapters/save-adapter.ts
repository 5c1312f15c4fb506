/**
 * `saveLoraAdapter`: a loaded (or combined) adapter as a safetensors file, through the writers of
 * lora/write. PEFT keys (`unet.<module>.lora_A.weight`, what Diffusers' `save_lora_weights`
 * writes, with the `lora_adapter_metadata` header that keeps per-module alpha/rank) or kohya keys
 * (`lora_unet_...`, `lora_te_`/`lora_te1_`/`lora_te2_`, SDXL UNet modules under their sgm names).
 * Factor shapes follow the base model's layers, so a file written here loads back on the same base.
 */
import { LorafuseError } from '../../../errors.ts';
import type { ComponentInventory } from '../../graph/config/inventory.ts';
import type { CanonicalAdapter, Component } from '../../lora/adapter.ts';
import type { LoraTarget } from '../../lora/target.ts';
import { writeKohya } from '../../lora/write/kohya.ts';
import { writePeft } from '../../lora/write/peft.ts';

export type SaveFormat = 'peft' | 'kohya';

export interface SaveLoraOptions {
  /** Default `peft`. */
  format?: SaveFormat;
}

export function writeAdapterFile(
  adapter: CanonicalAdapter,
  name: string,
  target: LoraTarget,
  options: SaveLoraOptions,
): Uint8Array {
  const format = options.format ?? 'peft';
  if (format !== 'peft' && format !== 'kohya') {
    throw new LorafuseError(
      'invalid-argument',
      `saveLoraAdapter: unknown format '${String(format)}'; use 'peft' or 'kohya'.`,
      { format },
    );
  }
  if (adapter.modules.length === 0) {
    throw new LorafuseError(
      'lora-invalid',
      `saveLoraAdapter: adapter '${name}' has no modules to save (hotswapped to a file that touches none of its modules).`,
      { adapter: name },
    );
  }
  const inventories: Partial<Record<Component, ComponentInventory>> = {};
  for (const [c, t] of Object.entries(target.components) as [
    Component,
    { inventory: ComponentInventory },
  ][]) {
    inventories[c] = t.inventory;
  }
  if (format === 'peft') return writePeft(adapter, { inventories });
  return writeKohya(adapter, {
    inventories,
    unet: target.unet,
    family: target.components.text_encoder_2 ? 'sdxl' : 'sd',
  });
}
