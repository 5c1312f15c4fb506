/**
 * The reverse index of LORA-FORMATS.md 2.2: every module of the target, spelled as kohya spells
 * it (`lora_unet_` + path with `.` -> `_`, plus the LDM spelling for UNet modules; `lora_te_` /
 * `lora_te1_` / `lora_te2_` for text encoders), mapped back to (component, diffusers path).
 */
import { LorafuseError } from '../../../errors.ts';
import type { Component } from '../adapter.ts';
import type { LoraTarget } from '../target.ts';
import { KOHYA_PREFIXES } from './kohya.ts';
import { ldmBlockNames, toLdmPath } from './ldm-names.ts';

export interface KohyaEntry {
  component: Component;
  path: string;
  /** Which spelling matched, for reports. */
  spelling: 'diffusers' | 'ldm';
}

export type KohyaIndex = ReadonlyMap<string, KohyaEntry>;

const cache = new WeakMap<LoraTarget, KohyaIndex>();

export function flatten(path: string): string {
  return path.replaceAll('.', '_');
}

export function kohyaIndex(target: LoraTarget): KohyaIndex {
  const hit = cache.get(target);
  if (hit) return hit;
  const index = new Map<string, KohyaEntry>();
  const add = (name: string, entry: KohyaEntry): void => {
    const prev = index.get(name);
    // Two different modules spelling the same flat name would make the mapping ambiguous.
    if (prev && (prev.component !== entry.component || prev.path !== entry.path)) {
      throw new LorafuseError(
        'internal',
        `kohya name '${name}' is ambiguous: ${prev.path} and ${entry.path}`,
        {
          name,
        },
      );
    }
    index.set(name, entry);
  };
  const ldm = target.unet ? ldmBlockNames(target.unet) : [];
  for (const rule of KOHYA_PREFIXES) {
    const comp = rule.component;
    if (!comp) continue;
    const tc = target.components[comp];
    if (!tc) continue;
    for (const m of tc.inventory.modules) {
      add(rule.prefix + flatten(m.path), { component: comp, path: m.path, spelling: 'diffusers' });
      if (tc.arch === 'unet') {
        const alias = toLdmPath(m.path, ldm);
        if (alias !== null)
          add(rule.prefix + flatten(alias), { component: comp, path: m.path, spelling: 'ldm' });
      }
    }
  }
  cache.set(target, index);
  return index;
}
