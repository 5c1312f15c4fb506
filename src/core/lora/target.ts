/**
 * The model a LoRA is converted against: per component, its architecture and module inventory
 * (from the configs alone), plus the typed UNet config for LDM/sgm block names.
 */
import type { ClipTextConfig } from '../graph/config/clip-config.ts';
import { clipTextInventory } from '../graph/config/clip-inventory.ts';
import type { ComponentInventory } from '../graph/config/inventory.ts';
import type { UNetConfig } from '../graph/config/unet-config.ts';
import { unetInventory } from '../graph/config/unet-inventory.ts';
import type { Component } from './adapter.ts';

export type ComponentArch = 'unet' | 'clip';

export interface TargetComponent {
  arch: ComponentArch;
  inventory: ComponentInventory;
}

export interface LoraTarget {
  /** For messages: a folder, repo id or built-in name (`sd15 (built-in configs)`). */
  name: string;
  components: Partial<Record<Component, TargetComponent>>;
  unet: UNetConfig | null;
}

export interface TargetConfigs {
  unet?: UNetConfig | null;
  textEncoder?: ClipTextConfig | null;
  textEncoder2?: ClipTextConfig | null;
}

export function loraTarget(name: string, configs: TargetConfigs): LoraTarget {
  const components: Partial<Record<Component, TargetComponent>> = {};
  if (configs.unet) components.unet = { arch: 'unet', inventory: unetInventory(configs.unet) };
  if (configs.textEncoder) {
    components.text_encoder = { arch: 'clip', inventory: clipTextInventory(configs.textEncoder) };
  }
  if (configs.textEncoder2) {
    components.text_encoder_2 = { arch: 'clip', inventory: clipTextInventory(configs.textEncoder2) };
  }
  return { name, components, unet: configs.unet ?? null };
}
