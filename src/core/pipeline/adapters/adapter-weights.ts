/**
 * The `adapter_weights` of `setAdapters(names, weights)` (LORA-FORMATS.md 3.9): a number, a list
 * (one entry per adapter), a per-component dict (`{unet, text_encoder, text_encoder_2}`, missing
 * components 1.0) or, for the UNet, a block dict. `null`/absent means 1.0. Diffusers warns and
 * drops what it does not understand; here it is an `invalid-argument` naming the entry.
 */
import { LorafuseError } from '../../../errors.ts';
import type { UNetConfig } from '../../graph/config/unet-config.ts';
import { COMPONENTS, type Component } from '../../lora/adapter.ts';
import {
  type BlockWeights,
  blockMultiplier,
  expandBlockWeights,
  type UNetBlockWeightsInput,
} from './block-weights.ts';

export type ComponentWeight = number | BlockWeights;

/** One adapter's weights, per component. */
export type AdapterWeights = Readonly<Record<Component, ComponentWeight>>;

export const UNIT_WEIGHTS: AdapterWeights = { unet: 1, text_encoder: 1, text_encoder_2: 1 };

/** What a caller may pass for one adapter. */
export type AdapterWeightInput =
  | number
  | null
  | undefined
  | {
      unet?: number | UNetBlockWeightsInput | null;
      text_encoder?: number | null;
      text_encoder_2?: number | null;
    };

function bad(what: string, details: Record<string, unknown> = {}): LorafuseError {
  return new LorafuseError('invalid-argument', `setAdapters: ${what}`, details);
}

function number(v: unknown, where: string): number {
  if (v === null || v === undefined) return 1;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw bad(`${where} must be a finite number, got ${JSON.stringify(v)}.`, { where, value: v });
  }
  return v;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseOne(v: unknown, name: string, unet: UNetConfig | null): AdapterWeights {
  if (!isRecord(v)) {
    const w = number(v, `the weight of '${name}'`);
    return { unet: w, text_encoder: w, text_encoder_2: w };
  }
  for (const key of Object.keys(v)) {
    if (!(COMPONENTS as readonly string[]).includes(key)) {
      const hint = key === 'down' || key === 'mid' || key === 'up' ? ` (a block dict goes under 'unet')` : '';
      throw bad(
        `the weights of '${name}' have an unknown key '${key}'${hint}; use the components ${COMPONENTS.join(', ')}.`,
        { adapter: name, key },
      );
    }
  }
  const te = (c: 'text_encoder' | 'text_encoder_2'): number => {
    if (isRecord(v[c])) {
      throw bad(`${name}.${c}: text encoders take one number; block dicts apply to the unet only.`, {
        adapter: name,
        component: c,
      });
    }
    return number(v[c], `${name}.${c}`);
  };
  let u: ComponentWeight;
  if (isRecord(v.unet)) {
    if (!unet)
      throw bad(`${name}.unet: a block dict needs a UNet, and this model has none.`, { adapter: name });
    u = expandBlockWeights(v.unet, unet);
  } else {
    u = number(v.unet, `${name}.unet`);
  }
  return { unet: u, text_encoder: te('text_encoder'), text_encoder_2: te('text_encoder_2') };
}

/** One `AdapterWeights` per name; a list must have one entry per name, anything else is repeated. */
export function parseAdapterWeights(
  names: readonly string[],
  weights: unknown,
  unet: UNetConfig | null,
): AdapterWeights[] {
  if (Array.isArray(weights)) {
    if (weights.length !== names.length) {
      throw bad(
        `${names.length} adapter name(s) but ${weights.length} weight(s); give one weight per adapter.`,
        {
          names: [...names],
          weights: weights.length,
        },
      );
    }
    return names.map((n, i) => parseOne(weights[i], n, unet));
  }
  return names.map((n) => parseOne(weights, n, unet));
}

/**
 * The multiplier of one module under one adapter's weights (component weight, or the block
 * multiplier for a UNet block dict), or null where a block dict cannot apply (see block-weights.ts).
 */
export function moduleWeight(w: AdapterWeights, component: Component, module: string): number | null {
  const c = w[component];
  return typeof c === 'number' ? c : blockMultiplier(c, module);
}
