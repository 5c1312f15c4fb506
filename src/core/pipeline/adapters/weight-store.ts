/**
 * The weights of every module an adapter touches (DESIGN.md decisions 3-4), CPU path (the
 * `AdapterStore` of the wasm backend and the CLI; the bookkeeping is store-ledger.ts's):
 * - `source`: the base parameters as read from the model, never changed;
 * - `base`: what the networks run without live adapters (`source` plus anything fused);
 * - `pristine`: the base before the first fuse since the last unfuse, restored by unfuse
 *   (a stored copy, never a subtraction: bit-exact after any number of cycles);
 * - `effective`: `base + sum_i c_i dW_i` over the live terms, what the networks run.
 *
 * Base, pristine and fused arrays are never written in place once stored. Effective weight arrays
 * are double-buffered per module: a change merges into the module's spare array (never the one
 * published), and at commit the published one becomes the spare. So a re-merge (a slider, a
 * per-step schedule) allocates nothing, a refused change leaves what the networks run untouched,
 * and an effective array a sink or caller was given stays as it was until the second change after
 * it (sinks get the new array at every commit; copy an effective array to keep it longer).
 * Changes go through a transaction: its steps are recorded, `compute()`
 * runs the merges (fuses first, then effective weights, each batch on the CPU merge backend),
 * and `commit()` publishes them only when all of it succeeded (a NaN/Inf refuses the whole
 * change, naming the module).
 * Dirty tracking: an effective weight is recomputed only when its signature (the base's version
 * plus each live term's factor id and coefficient) differs from the committed one.
 */
import { LorafuseError } from '../../../errors.ts';
import type { Component } from '../../lora/adapter.ts';
import type { AdapterTerm, BaseParams } from '../../lora/merge-cpu.ts';
import type { MergeBackend } from '../../lora/merge-fast/merge-backend.ts';
import type {
  AdapterStore,
  AdapterStoreTransaction,
  BaseWeightSource,
  ModuleBase,
  ModuleWeights,
  StoreCounters,
} from './adapter-store.ts';
import { mergeModules } from './merge-terms.ts';
import { type LedgerEntry, StoreLedger, signatureOf } from './store-ledger.ts';

export type { ModuleWeights } from './adapter-store.ts';

/** Where effective weights go: a network session, a GPU uploader, a test double. */
export interface WeightSink {
  /** `<module>.weight` (and `.bias` when given) of `component` now hold these values. */
  write(component: Component, module: string, params: BaseParams): void;
}

/** A live or fused term; `uid` names the factor data (it changes when a hotswap replaces them). */
export interface StoreTerm extends AdapterTerm {
  uid: number;
  /**
   * With hotswap enabled: names the adapter module's factor slot across swaps (`adapter/module`)
   * and the rank it is sized for (the target rank). The GPU store keeps one set of factor buffers
   * per slot and writes each swapped-in LoRA into them; the CPU store ignores it.
   */
  slot?: { key: string; rank: number };
}

export type StoreStats = StoreCounters;

interface Entry extends LedgerEntry<BaseParams> {
  effective: BaseParams;
  /** `effective.weight.data` is a store buffer (not the base's array): it becomes the spare. */
  effectiveOwned: boolean;
  /** The module's other effective buffer, written by the next merge. */
  spare: Float32Array | null;
}

export const storeId = (component: Component, module: string): string => `${component}.${module}`;

/** NaN/Inf values in `a`: `x - x` is 0 for every finite x and NaN otherwise (one tight pass). */
function countNonFinite(a: Float32Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    if (x - x !== 0) n++;
  }
  return n;
}

function nonFinite(p: BaseParams): number {
  return countNonFinite(p.weight.data) + (p.bias ? countNonFinite(p.bias.data) : 0);
}

function refuseNonFinite(id: string, p: BaseParams, what: string, terms: readonly StoreTerm[]): void {
  const count = nonFinite(p);
  if (count === 0) return;
  const sources = [...new Set(terms.map((t) => t.source ?? '?'))];
  throw new LorafuseError(
    'lora-nonfinite',
    `module ${id}: ${what} would hold ${count} NaN/Inf values (adapters from ${sources.join(', ')}, coefficients ${terms.map((t) => t.coefficient).join(', ')}). Nothing was changed; lower the weights or check the LoRA file.`,
    { module: id, count, sources, coefficients: terms.map((t) => t.coefficient) },
  );
}

/**
 * Makes `next` the staged effective weight. The array it replaces becomes the module's spare when
 * the store owns it (never a base array); a spare that `next` now uses stops being the spare.
 */
function publish(e: Entry, next: BaseParams): void {
  const data = next.weight.data;
  const prev = e.effectiveOwned ? e.effective.weight.data : null;
  if (data === e.spare) e.spare = null;
  if (prev && prev !== data) e.spare = prev;
  e.effective = next;
  e.effectiveOwned = data !== e.base.weight.data && data !== e.source.weight.data;
}

export class WeightStore implements AdapterStore {
  readonly kind = 'cpu';
  private readonly entries = new Map<string, Entry>();
  private readonly sinks: WeightSink[] = [];
  /** null: merge-cpu's `applyAdapters` (the scalar oracle). */
  readonly backend: MergeBackend | null;
  private readonly baseSource: BaseWeightSource | null;
  readonly stats: StoreStats = { recomputes: 0, fuses: 0, factorAllocations: 0, writes: 0 };

  constructor(backend: MergeBackend | null = null, base: BaseWeightSource | null = null) {
    this.backend = backend;
    this.baseSource = base;
  }

  addSink(sink: WeightSink): void {
    this.sinks.push(sink);
  }

  /** A zeroed factor array owned by the store (counted: hotswap buffers must not grow). */
  allocFactor(length: number): Float32Array {
    this.stats.factorAllocations++;
    return new Float32Array(length);
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  get(id: string): ModuleWeights | undefined {
    const e = this.entries.get(id);
    if (!e) return undefined;
    return {
      component: e.component,
      module: e.module,
      base: e.base,
      effective: e.effective,
      fused: e.pristine !== null,
    };
  }

  info(id: string): { component: Component; module: string; fused: boolean } | undefined {
    const e = this.entries.get(id);
    return e && { component: e.component, module: e.module, fused: e.pristine !== null };
  }

  async read(id: string): Promise<ModuleWeights | undefined> {
    return this.get(id);
  }

  async readBase(component: Component, module: string): Promise<BaseParams> {
    if (!this.baseSource) {
      throw new LorafuseError(
        'internal',
        `weight store: no base source to read ${storeId(component, module)} from`,
        { module: storeId(component, module) },
      );
    }
    return this.baseSource.read(component, module);
  }

  async readFused(component: Component, module: string): Promise<BaseParams> {
    return this.get(storeId(component, module))?.base ?? (await this.readBase(component, module));
  }

  ids(): string[] {
    return [...this.entries.keys()];
  }

  /** CPU factor arrays are garbage-collected with the adapters that hold them. */
  prune(): void {}

  begin(): StoreTransaction {
    return new StoreTransaction(this, this.entries);
  }

  /** @internal applied by StoreTransaction.commit */
  apply(staged: Map<string, Entry>, dropped: ReadonlySet<string>, changed: ReadonlySet<string>): void {
    for (const [id, e] of staged) this.entries.set(id, e);
    for (const id of changed) {
      const e = this.entries.get(id);
      if (!e) continue;
      for (const sink of this.sinks) {
        sink.write(e.component, e.module, e.effective);
        this.stats.writes++;
      }
    }
    for (const id of dropped) this.entries.delete(id);
  }
}

/** Staged changes; nothing is visible until `commit()`. */
export class StoreTransaction implements AdapterStoreTransaction {
  private readonly ledger: StoreLedger<Entry>;

  constructor(
    private readonly store: WeightStore,
    committed: ReadonlyMap<string, Entry>,
  ) {
    this.ledger = new StoreLedger(committed, 'weight store');
  }

  has(id: string): boolean {
    return this.ledger.has(id);
  }

  /** A module an adapter now touches; `source` is its base as read from the model. */
  addModule(component: Component, module: string, source: ModuleBase): void {
    const id = storeId(component, module);
    if (this.has(id)) return;
    if ('params' in source) {
      throw new LorafuseError(
        'internal',
        `weight store: ${id} was given GPU buffers; the CPU store takes float32 arrays`,
        { module: id },
      );
    }
    this.ledger.stage(id, {
      component,
      module,
      source,
      base: source,
      baseVersion: 0,
      pristine: null,
      effective: source,
      effectiveOwned: false,
      spare: null,
      signature: signatureOf(0, []),
      pendingFuse: null,
      pendingTerms: null,
    });
  }

  fuse(id: string, terms: readonly StoreTerm[]): void {
    this.ledger.fuse(id, terms);
  }

  unfuse(id: string): void {
    this.ledger.unfuse(id);
  }

  bake(id: string): void {
    this.ledger.bake(id);
  }

  setTerms(id: string, terms: readonly StoreTerm[]): void {
    this.ledger.setTerms(id, terms);
  }

  dropIfUnchanged(id: string): void {
    this.ledger.dropIfUnchanged(id);
  }

  /** Runs the recorded merges: fuses into the bases first, then the effective weights on them. */
  async compute(): Promise<void> {
    const fuses = this.ledger.pendingFuses();
    const fused = await mergeModules(
      fuses.map(([id, e]) => ({ base: e.base, terms: e.pendingFuse!, label: id })),
      this.store.backend,
    );
    fuses.forEach(([id, e], i) => {
      if (!fused[i]!.provablyFinite)
        refuseNonFinite(id, fused[i]!.params, 'the fused weight', e.pendingFuse!);
    });
    fuses.forEach(([, e], i) => {
      e.base = fused[i]!.params;
      e.pendingFuse = null;
      this.store.stats.fuses++;
    });
    const live = this.ledger.pendingLive();
    const withTerms = live.filter(([, e]) => e.pendingTerms!.length > 0);
    const merged = await mergeModules(
      withTerms.map(([id, e]) => ({
        base: e.base,
        terms: e.pendingTerms!,
        label: id,
        ...(e.spare ? { out: e.spare } : {}),
      })),
      this.store.backend,
    );
    withTerms.forEach(([id, e], i) => {
      if (!merged[i]!.provablyFinite)
        refuseNonFinite(id, merged[i]!.params, 'the effective weight', e.pendingTerms!);
    });
    for (const [, e] of live) {
      if (e.pendingTerms!.length === 0) publish(e, e.base);
      e.pendingTerms = null;
    }
    withTerms.forEach(([, e], i) => {
      publish(e, merged[i]!.params);
      this.store.stats.recomputes++;
    });
  }

  /** Publishes the change (after `compute`). */
  commit(): void {
    this.ledger.refuseUncomputed();
    this.store.apply(this.ledger.staged, this.ledger.dropped, this.ledger.changed);
  }
}
