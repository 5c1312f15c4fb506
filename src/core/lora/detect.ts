/**
 * Per-key format detection by explicit signatures (LORA-FORMATS.md 1): which format a key is in,
 * which factor of which algorithm it holds, and how its module is named. Pure string rules from
 * the tables in ./formats/; resolving the name against a model happens in convert.ts.
 */
import type { Component, SourceFormat } from './adapter.ts';
import { ATTN_PROC_KEY } from './formats/attn-proc.ts';
import { DIFFUSERS_2023_SUFFIXES } from './formats/diffusers-2023.ts';
import { KOHYA_PREFIXES, KOHYA_SUFFIXES } from './formats/kohya.ts';
import { LYCORIS_SUFFIXES, LYCORIS_UNSUPPORTED } from './formats/lycoris.ts';
import { DIFFUSERS_PREFIXES, PEFT_SUFFIXES, RAW_PEFT_PREFIX } from './formats/peft.ts';
import { matchPrefix, matchSuffix, type Role, type SuffixRule } from './formats/rules.ts';

/** A kohya flat name (`lora_unet_down_blocks_0_...`), looked up in the reverse index. */
export interface KohyaName {
  kind: 'kohya';
  component: Component;
  /** The module part of the key, prefix included (`lora_unet_input_blocks_4_1_proj_in`). */
  flat: string;
  prefix: string;
}

/** A dotted module path; `projection` set for attention-processor keys (`q`, `k`, `v`, `out`). */
export interface DottedName {
  kind: 'dotted';
  /** null when the key has no component prefix (old attn-procs, raw PEFT). */
  component: Component | null;
  path: string;
  projection?: string;
}

export interface DetectedKey {
  key: string;
  format: SourceFormat;
  name: KohyaName | DottedName;
  role: Role;
  factor: string;
}

export interface UndetectedKey {
  key: string;
  reason: string;
}

export type KeyDetection = { ok: true; value: DetectedKey } | { ok: false; value: UndetectedKey };

const KOHYA_ALL: readonly SuffixRule[] = [...KOHYA_SUFFIXES, ...LYCORIS_SUFFIXES];

function detectKohya(key: string): KeyDetection | null {
  const prefix = matchPrefix(key, KOHYA_PREFIXES);
  if (!prefix?.component) return null;
  const dot = key.indexOf('.');
  if (dot < 0) {
    return { ok: false, value: { key, reason: `kohya-style key without a '.<factor>' suffix` } };
  }
  const flat = key.slice(0, dot);
  const suffix = key.slice(dot);
  const rule = KOHYA_ALL.find((r) => r.suffix === suffix);
  if (!rule) {
    const unsupported = LYCORIS_UNSUPPORTED.find((r) => r.suffix === suffix);
    const reason = unsupported
      ? `${unsupported.reason} (suffix '${suffix}')`
      : `unknown suffix '${suffix}' on a kohya/LyCORIS module (expected lora_down/lora_up/alpha, hada_*, lokr_*, diff, w_norm, dora_scale, ...)`;
    return { ok: false, value: { key, reason } };
  }
  const lycoris = rule.role !== 'lora' && rule.role !== 'alpha' && rule.role !== 'dora';
  const format: SourceFormat = lycoris || rule.factor === 'mid' ? 'lycoris' : 'kohya';
  return {
    ok: true,
    value: {
      key,
      format,
      name: { kind: 'kohya', component: prefix.component, flat, prefix: prefix.prefix },
      role: rule.role,
      factor: rule.factor,
    },
  };
}

/** Splits a dotted module path into component prefix + path. */
function dottedName(stem: string): { component: Component | null; path: string; raw: boolean } {
  const p = matchPrefix(stem, [...DIFFUSERS_PREFIXES, RAW_PEFT_PREFIX]);
  if (!p) return { component: null, path: stem, raw: false };
  return { component: p.component, path: stem.slice(p.prefix.length), raw: p === RAW_PEFT_PREFIX };
}

function detectDotted(key: string): KeyDetection | null {
  const attn = ATTN_PROC_KEY.exec(key);
  if (attn) {
    const [, stem = '', projection = '', which = ''] = attn;
    const n = dottedName(stem);
    return {
      ok: true,
      value: {
        key,
        format: 'diffusers-attn-proc',
        name: { kind: 'dotted', component: n.component, path: n.path, projection },
        role: 'lora',
        factor: which,
      },
    };
  }
  const tables: [SourceFormat, readonly SuffixRule[]][] = [
    ['peft', PEFT_SUFFIXES],
    ['diffusers-2023', DIFFUSERS_2023_SUFFIXES],
  ];
  for (const [format, table] of tables) {
    const rule = matchSuffix(key, table);
    if (!rule) continue;
    const n = dottedName(key.slice(0, key.length - rule.suffix.length));
    return {
      ok: true,
      value: {
        key,
        format: n.raw ? 'raw-peft' : format,
        name: { kind: 'dotted', component: n.component, path: n.path },
        role: rule.role,
        factor: rule.factor,
      },
    };
  }
  return null;
}

/** Classifies one key; never throws. */
export function detectKey(key: string): KeyDetection {
  return (
    detectKohya(key) ??
    detectDotted(key) ?? {
      ok: false,
      value: {
        key,
        reason:
          'not a LoRA key of any known format (PEFT lora_A/lora_B, diffusers lora.down/lora_linear_layer, attn-proc to_q_lora, kohya lora_unet_/lora_te_, LyCORIS)',
      },
    }
  );
}

/** The formats present in a key list, most frequent first (for reports). */
export function detectFormats(keys: readonly string[]): { format: SourceFormat; keys: number }[] {
  const counts = new Map<SourceFormat, number>();
  for (const k of keys) {
    const d = detectKey(k);
    if (d.ok) counts.set(d.value.format, (counts.get(d.value.format) ?? 0) + 1);
  }
  return [...counts].map(([format, n]) => ({ format, keys: n })).sort((a, b) => b.keys - a.keys);
}
