/**
 * The vocabulary of the format rule tables: a key suffix names one factor of one algorithm.
 * Tables are data (one file per format); detect.ts applies them, convert.ts groups the results.
 */
import type { Component } from '../adapter.ts';

/** Algorithms, plus the two per-module extras that ride along with any of them. */
export type Algo = 'lora' | 'loha' | 'lokr' | 'full' | 'norm';
export type Role = Algo | 'alpha' | 'dora';

export interface SuffixRule {
  /** Matched at the end of the key, dot included (`.lora_down.weight`). */
  suffix: string;
  role: Role;
  /** The canonical factor name (adapter.ts table), or `alpha` / `magnitude`. */
  factor: string;
}

/** A suffix we recognise but do not support: the key is reported with this reason. */
export interface UnsupportedRule {
  suffix: string;
  reason: string;
}

/** A component prefix of dotted formats (`unet.`), or of kohya names (`lora_unet_`). */
export interface PrefixRule {
  prefix: string;
  /** null: the component is inferred from the module path (un-prefixed formats). */
  component: Component | null;
}

/** Finds the longest matching suffix rule (suffixes of one table never nest ambiguously). */
export function matchSuffix<T extends { suffix: string }>(key: string, rules: readonly T[]): T | undefined {
  let best: T | undefined;
  for (const r of rules) {
    if (
      key.endsWith(r.suffix) &&
      key.length > r.suffix.length &&
      (!best || r.suffix.length > best.suffix.length)
    ) {
      best = r;
    }
  }
  return best;
}

export function matchPrefix(key: string, rules: readonly PrefixRule[]): PrefixRule | undefined {
  let best: PrefixRule | undefined;
  for (const r of rules) {
    if (key.startsWith(r.prefix) && (!best || r.prefix.length > best.prefix.length)) best = r;
  }
  return best;
}
