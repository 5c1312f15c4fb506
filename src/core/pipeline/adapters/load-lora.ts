/**
 * The synchronous half of `loadLoraWeights`: the adapter name a load will use (Diffusers'
 * `default_<n>` rule, hotswap preconditions) and the conversion of a file's bytes into validated
 * canonical modules (strict about unmapped keys by default, `prefix` keeps one component, NaN/Inf
 * factors refused, a hotswap target rank enforced). Nothing here changes the manager.
 */
import { LorafuseError } from '../../../errors.ts';
import { readSafetensors } from '../../io/safetensors.ts';
import type { AdapterModule, Component } from '../../lora/adapter.ts';
import { convertLora } from '../../lora/convert.ts';
import type { LoraTarget } from '../../lora/target.ts';
import { findNonFinite, refuseUnmapped, validateAdapter } from '../../lora/validate.ts';
import { refuseOverTargetRank } from './hotswap.ts';

export interface LoadNameOptions {
  adapterName?: string;
}

export interface ConvertOptions {
  prefix?: Component;
  strict?: boolean;
  hotswapRank: number | null;
}

function invalid(message: string, details: Record<string, unknown> = {}): LorafuseError {
  return new LorafuseError('invalid-argument', message, details);
}

/** The name a load will use, checked against the loaded adapters. */
export function loadName(loaded: ReadonlyMap<string, unknown>, o: LoadNameOptions, hotswap: boolean): string {
  if (hotswap) {
    if (o.adapterName === undefined) {
      throw invalid('loadLoraWeights: hotswap needs the adapterName of a loaded adapter to replace.');
    }
    if (!loaded.has(o.adapterName)) {
      throw invalid(
        `loadLoraWeights: cannot hotswap into '${o.adapterName}': no such adapter (loaded: ${[...loaded.keys()].join(', ') || 'none'}). Load it first without hotswap.`,
        { adapter: o.adapterName },
      );
    }
    return o.adapterName;
  }
  if (o.adapterName !== undefined) {
    if (o.adapterName === '') throw invalid('loadLoraWeights: adapterName must not be empty.');
    if (loaded.has(o.adapterName)) {
      throw invalid(
        `loadLoraWeights: an adapter named '${o.adapterName}' is already loaded; pick another name, delete it first, or pass hotswap: true to replace its weights.`,
        { adapter: o.adapterName },
      );
    }
    return o.adapterName;
  }
  let n = loaded.size;
  while (loaded.has(`default_${n}`)) n++;
  return `default_${n}`;
}

/** Reads, converts and validates a LoRA file against the base. */
export function convertForLoad(
  file: string,
  bytes: Uint8Array,
  target: LoraTarget,
  o: ConvertOptions,
): AdapterModule[] {
  const st = readSafetensors(bytes, file);
  const adapter = convertLora({ source: file, tensors: st, metadata: st.header.metadata }, target);
  if (o.strict ?? true) refuseUnmapped(adapter, target.name);
  const modules = o.prefix ? adapter.modules.filter((m) => m.component === o.prefix) : adapter.modules;
  const kept = { ...adapter, modules };
  validateAdapter(kept, target);
  const bad = findNonFinite(kept);
  if (bad.length > 0) {
    throw new LorafuseError(
      'lora-nonfinite',
      `${file}: ${bad.length} factor(s) hold NaN/Inf, e.g. ${bad
        .slice(0, 3)
        .map((b) => `${b.module} '${b.factor}' (${b.count} values)`)
        .join(', ')}. Nothing was loaded; repair or re-export the file.`,
      { file, culprits: bad },
    );
  }
  if (modules.length === 0) {
    const where = o.prefix ? ` for the component '${o.prefix}'` : '';
    throw new LorafuseError(
      'lora-invalid',
      `${file}: no LoRA modules${where} in this file; nothing was loaded.`,
      {
        file,
        prefix: o.prefix,
      },
    );
  }
  if (o.hotswapRank !== null) refuseOverTargetRank(modules, o.hotswapRank, file);
  return modules;
}
