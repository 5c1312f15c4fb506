/**
 * `combineAdapters(adapters, weights, options)`: PEFT's `add_weighted_adapter` on canonical
 * adapters (LORA-FORMATS.md section 4), returning a new LoRA adapter whose alpha equals its rank
 * in every module (scale 1), like the adapter PEFT creates.
 *
 * - One input: the type is forced to `linear` (PEFT does the same).
 * - Ranks (an adapter's rank is its largest module rank, PEFT's max(r, *rank_pattern)): `linear`,
 *   `ties`, `dare_*` (not `*_svd`) and `magnitude_prune` need equal ranks, else `invalid-argument`
 *   naming the adapters and ranks; `cat` -> the sum of the ranks; `*svd` -> `svdRank` or the max.
 * - Modules: the union over the adapters; a module missing from an adapter contributes nothing
 *   (PEFT skips it, which equals a zero term for every type).
 * - `density` is required by the pruning types (`ties*`, `dare_*`, `magnitude_prune*`); >= 1
 *   prunes nothing; < 0 is refused. DARE draws its masks from a seeded stream (`seed`, default 0).
 * - Only plain LoRA modules combine: DoRA, LoRA biases and LyCORIS kinds are refused by name
 *   (PEFT would drop a DoRA magnitude, and there is no low-rank sum of LoHa/LoKr products).
 */
import { LorafuseError } from '../../../errors.ts';
import { type AdapterModule, type CanonicalAdapter, moduleId } from '../adapter.ts';
import { combineCat } from './cat.ts';
import { dareLinearMerge, dareTiesMerge } from './dare.ts';
import { combineFactorwise } from './factorwise.ts';
import { linearMerge } from './linear.ts';
import { magnitudePruneMerge } from './magnitude-prune.ts';
import { createUniformStream, type UniformStream } from './rng.ts';
import { combineSvd } from './svd.ts';
import { checkSameTarget, makeTerm, type Term } from './term.ts';
import { tiesMerge } from './ties.ts';
import {
  COMBINATION_TYPES,
  type CombinationType,
  type CombineOptions,
  type MajoritySignMethod,
  type MergeRule,
  type TensorMerge,
} from './types.ts';

export type { CombinationType, CombineOptions, MajoritySignMethod } from './types.ts';
export { COMBINATION_TYPES } from './types.ts';

const EQUAL_RANK_TYPES: ReadonlySet<CombinationType> = new Set([
  'linear',
  'ties',
  'dare_linear',
  'dare_ties',
  'magnitude_prune',
]);

/** The merge rule of a type (`svd` -> `linear`, `ties_svd` -> `ties`, ...); undefined for `cat`. */
export function mergeRuleOf(type: CombinationType): MergeRule | undefined {
  if (type === 'cat') return undefined;
  if (type === 'svd') return 'linear';
  return type.replace(/_svd$/, '') as MergeRule;
}

export function needsDensity(type: CombinationType): boolean {
  const rule = mergeRuleOf(type);
  return rule !== undefined && rule !== 'linear';
}

function invalid(message: string, details: Record<string, unknown> = {}): LorafuseError {
  return new LorafuseError('invalid-argument', message, details);
}

interface Checked {
  type: CombinationType;
  density: number;
  method: MajoritySignMethod;
  seed: number;
}

function checkOptions(
  adapters: readonly CanonicalAdapter[],
  weights: readonly number[],
  opts: CombineOptions,
): Checked {
  if (adapters.length === 0) throw invalid('combineAdapters: give at least one adapter');
  if (weights.length !== adapters.length) {
    throw invalid(
      `combineAdapters: ${adapters.length} adapters but ${weights.length} weights; give one weight per adapter`,
      { adapters: adapters.map((a) => a.source), weights: [...weights] },
    );
  }
  weights.forEach((w, i) => {
    if (!Number.isFinite(w)) {
      throw invalid(`weight ${w} of ${adapters[i]!.source} is not a finite number`, { weight: w });
    }
  });
  if (!COMBINATION_TYPES.includes(opts.combinationType)) {
    throw invalid(
      `unknown combination type '${String(opts.combinationType)}'; use one of ${COMBINATION_TYPES.join(', ')}`,
      { combinationType: opts.combinationType },
    );
  }
  const type: CombinationType = adapters.length === 1 ? 'linear' : opts.combinationType;
  const method = opts.majoritySignMethod ?? 'total';
  if (method !== 'total' && method !== 'frequency') {
    throw invalid(`majority sign method must be 'total' or 'frequency', got '${String(method)}'`, { method });
  }
  let density = 1;
  if (needsDensity(type)) {
    if (opts.density === undefined) {
      throw invalid(
        `combination type '${type}' prunes and needs a density (the fraction of values kept, 0..1, e.g. 0.5)`,
        { combinationType: type },
      );
    }
    if (Number.isNaN(opts.density) || opts.density < 0) {
      throw invalid(`density must be >= 0 (the fraction of values kept), got ${opts.density}`, {
        density: opts.density,
      });
    }
    density = opts.density;
  }
  if (opts.svdRank !== undefined && !(Number.isSafeInteger(opts.svdRank) && opts.svdRank >= 1)) {
    throw invalid(`svd rank must be a positive integer, got ${opts.svdRank}`, { svdRank: opts.svdRank });
  }
  if (opts.svdClamp !== undefined && !(opts.svdClamp >= 0 && opts.svdClamp <= 1)) {
    throw invalid(`svd clamp is a quantile and must be in [0, 1], got ${opts.svdClamp}`, {
      svdClamp: opts.svdClamp,
    });
  }
  return { type, density, method, seed: opts.seed ?? 0 };
}

/** Refuses what cannot be combined, naming the file and the module. */
function checkModule(m: AdapterModule, source: string): void {
  const refuse = (why: string) =>
    new LorafuseError('not-implemented', `${source}: module ${moduleId(m)}: ${why}`, {
      file: source,
      module: moduleId(m),
      kind: m.kind,
    });
  if (m.kind !== 'lora') {
    throw refuse(
      `'${m.kind}' modules cannot be combined (only plain LoRA factors have a weighted combination); load it as a separate adapter instead`,
    );
  }
  if (m.dora) {
    throw refuse(
      'DoRA magnitudes cannot be combined (PEFT would drop them and re-initialise from the base); load it as a separate adapter instead',
    );
  }
  if (m.factors.bias) {
    throw refuse('a LoRA bias (lora_B.bias) cannot be combined; load it as a separate adapter instead');
  }
}

/** PEFT's adapter rank: the largest module rank. */
function adapterRank(a: CanonicalAdapter): number {
  return a.modules.reduce((r, m) => Math.max(r, m.factors.down?.shape[0] ?? m.rank), 0);
}

function newRank(type: CombinationType, adapters: readonly CanonicalAdapter[], svdRank?: number): number {
  const ranks = adapters.map(adapterRank);
  if (EQUAL_RANK_TYPES.has(type)) {
    if (new Set(ranks).size !== 1) {
      throw invalid(
        `combination type '${type}' needs adapters of equal rank, got ${adapters.map((a, i) => `${a.source} (rank ${ranks[i]})`).join(', ')}; use 'cat' or 'svd' for different ranks`,
        { combinationType: type, adapters: adapters.map((a) => a.source), ranks },
      );
    }
    return ranks[0]!;
  }
  if (type === 'cat') return ranks.reduce((s, r) => s + r, 0);
  return svdRank ?? Math.max(...ranks);
}

function tensorMerge(rule: MergeRule, c: Checked, rng: UniformStream): TensorMerge {
  switch (rule) {
    case 'linear':
      return linearMerge;
    case 'ties':
      return tiesMerge(c.density, c.method);
    case 'dare_linear':
      return dareLinearMerge(c.density, rng);
    case 'dare_ties':
      return dareTiesMerge(c.density, c.method, rng);
    case 'magnitude_prune':
      return magnitudePruneMerge(c.density);
  }
}

/** The terms of every module, in order of first appearance over the adapters. */
function termsByModule(adapters: readonly CanonicalAdapter[], weights: readonly number[]): Term[][] {
  const byId = new Map<string, Term[]>();
  adapters.forEach((a, i) => {
    const seen = new Set<string>();
    for (const m of a.modules) {
      const id = moduleId(m);
      if (seen.has(id)) {
        throw new LorafuseError('lora-invalid', `${a.source}: module ${id} appears twice`, {
          file: a.source,
          module: id,
        });
      }
      seen.add(id);
      checkModule(m, a.source);
      const list = byId.get(id) ?? [];
      list.push(makeTerm(m, i, a.source, weights[i]!));
      byId.set(id, list);
    }
  });
  return [...byId.values()];
}

export function combineAdapters(
  adapters: readonly CanonicalAdapter[],
  weights: readonly number[],
  options: CombineOptions,
): CanonicalAdapter {
  const c = checkOptions(adapters, weights, options);
  const groups = termsByModule(adapters, weights);
  const rank = newRank(c.type, adapters, options.svdRank);
  const rule = mergeRuleOf(c.type);
  const rng = createUniformStream(c.seed);
  const merge = rule ? tensorMerge(rule, c, rng) : undefined;
  const svdType = c.type.endsWith('svd');
  const modules: AdapterModule[] = groups.map((terms) => {
    checkSameTarget(terms);
    const first = terms[0]!.module;
    let factors: ReturnType<typeof combineCat>;
    if (c.type === 'cat') factors = combineCat(terms, rank);
    else if (svdType) {
      factors = combineSvd(terms, {
        rank,
        ...(rule === 'linear' ? {} : { merge: merge! }),
        ...(options.svdClamp === undefined ? {} : { clamp: options.svdClamp }),
      });
    } else factors = combineFactorwise(terms, merge!);
    const r = factors.down.shape[0]!;
    return {
      component: first.component,
      module: first.module,
      kind: 'lora',
      factors: { down: factors.down, up: factors.up },
      alpha: r,
      rank: r,
      format: 'peft',
      sourceKeys: terms.flatMap((t) => t.module.sourceKeys),
    };
  });
  const parts = adapters.map((a, i) => `${a.source}:${weights[i]}`).join(', ');
  return { source: `${c.type}(${parts})`, modules, unmapped: [], metadata: {} };
}
