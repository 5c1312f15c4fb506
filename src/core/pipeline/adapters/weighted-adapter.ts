/**
 * `addWeightedAdapter`: PEFT's `LoraModel.add_weighted_adapter` on the manager's adapters. The
 * named adapters' canonical modules (as their files hold them: alpha/rank per module, no
 * `setAdapters` weight, no target-rank padding) go through `combineAdapters` (lora/combine), which
 * returns a new plain LoRA adapter with alpha = rank per module, as PEFT creates it.
 *
 * Where this differs from PEFT, on purpose:
 * - A name already in use is refused (`invalid-argument`); PEFT returns silently and keeps the
 *   old adapter, which hides a typo or a stale result.
 * - The sources enter at their file's alpha/rank only. In Diffusers, `set_adapters` rewrites
 *   PEFT's `scaling` (weight * alpha/r), so the same call there depends on the last
 *   `set_adapters` weights; here the `weights` argument is the only weighting.
 * PEFT's default combination type (`svd`) is kept.
 */
import { LorafuseError } from '../../../errors.ts';
import type { CanonicalAdapter } from '../../lora/adapter.ts';
import {
  type CombinationType,
  type CombineOptions,
  combineAdapters,
  type MajoritySignMethod,
} from '../../lora/combine/index.ts';
import { unpadModule } from './hotswap.ts';
import type { LoadedAdapter } from './state.ts';

export interface AddWeightedAdapterOptions {
  /** Loaded adapters to combine (the same name may appear twice). */
  adapters: readonly string[];
  /** One weight per adapter. */
  weights: readonly number[];
  /** Name of the new adapter; must not be in use. */
  adapterName: string;
  /** Default `svd` (PEFT's default). */
  combinationType?: CombinationType;
  /** Fraction of values kept by the pruning types (`ties*`, `dare_*`, `magnitude_prune*`). */
  density?: number;
  majoritySignMethod?: MajoritySignMethod;
  /** Rank of an `*svd` result (default: the largest input rank). */
  svdRank?: number;
  /** Quantile in [0, 1] the SVD factors are clamped to. */
  svdClamp?: number;
  /** Seed of DARE's masks (default 0): same seed, same adapter. */
  seed?: number;
}

function invalid(message: string, details: Record<string, unknown> = {}): LorafuseError {
  return new LorafuseError('invalid-argument', message, details);
}

/** The adapter's modules as its file holds them (hotswap buffers cut back to the file's rank). */
export function canonicalOf(ad: LoadedAdapter): CanonicalAdapter {
  const modules = [...ad.slots.values()].flatMap((s) => {
    if (!s.current) return [];
    return [s.buffers ? unpadModule(s.current) : s.current];
  });
  return { source: ad.name, modules, unmapped: [], metadata: {} };
}

/** Checks the call against the loaded adapters and combines them; changes nothing. */
export function combineLoaded(
  o: AddWeightedAdapterOptions,
  loaded: ReadonlyMap<string, LoadedAdapter>,
): CanonicalAdapter {
  if (typeof o.adapterName !== 'string' || o.adapterName === '') {
    throw invalid('addWeightedAdapter: adapterName must be a non-empty string.', {
      adapterName: o.adapterName,
    });
  }
  if (loaded.has(o.adapterName)) {
    throw invalid(
      `addWeightedAdapter: an adapter named '${o.adapterName}' already exists; pick another name or deleteAdapters('${o.adapterName}') first.`,
      { adapter: o.adapterName },
    );
  }
  if (!Array.isArray(o.adapters) || o.adapters.length === 0) {
    throw invalid('addWeightedAdapter: give at least one adapter to combine.', { adapters: o.adapters });
  }
  const missing = o.adapters.filter((n) => !loaded.has(n));
  if (missing.length > 0) {
    throw invalid(
      `addWeightedAdapter: no adapter named ${missing.map((n) => `'${n}'`).join(', ')}; loaded: ${[...loaded.keys()].join(', ') || 'none'}.`,
      { missing, loaded: [...loaded.keys()] },
    );
  }
  if (!Array.isArray(o.weights) || o.weights.length !== o.adapters.length) {
    throw invalid(
      `addWeightedAdapter: ${o.adapters.length} adapters but ${Array.isArray(o.weights) ? o.weights.length : 'no'} weights; give one weight per adapter.`,
      { adapters: [...o.adapters], weights: o.weights },
    );
  }
  const sources = o.adapters.map((n) => canonicalOf(loaded.get(n)!));
  const options: CombineOptions = { combinationType: o.combinationType ?? 'svd' };
  if (o.density !== undefined) options.density = o.density;
  if (o.majoritySignMethod !== undefined) options.majoritySignMethod = o.majoritySignMethod;
  if (o.svdRank !== undefined) options.svdRank = o.svdRank;
  if (o.svdClamp !== undefined) options.svdClamp = o.svdClamp;
  if (o.seed !== undefined) options.seed = o.seed;
  const combined = combineAdapters(sources, o.weights, options);
  if (combined.modules.length === 0) {
    throw new LorafuseError(
      'lora-invalid',
      `addWeightedAdapter: ${o.adapters.join(', ')} have no modules to combine (hotswapped to files that touch none of them?).`,
      { adapters: [...o.adapters] },
    );
  }
  return combined;
}
