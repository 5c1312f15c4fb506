/**
 * The bookkeeping both weight stores share (CPU: weight-store.ts, GPU: gpu-weights.ts), whatever
 * their buffers are: per touched module a never-written `source`, the `base` the networks run
 * without live adapters, the `pristine` base kept from the first fuse until unfuse (restored by
 * pointing back at it: bit-exact, no subtraction), a base version, and the signature of the live
 * terms last merged (dirty tracking). A transaction stages copies of the entries it changes and
 * records the merges to run (`pendingFuse`, `pendingTerms`); the store runs them at `compute` and
 * publishes the staged entries at `commit`.
 */
import { LorafuseError } from '../../../errors.ts';
import type { Component } from '../../lora/adapter.ts';
import type { StoreTerm } from './weight-store.ts';

/** What the ledger reads and writes of a store's entry; `B` is the store's buffer type. */
export interface LedgerEntry<B, T extends StoreTerm = StoreTerm> {
  readonly component: Component;
  readonly module: string;
  readonly source: B;
  base: B;
  baseVersion: number;
  pristine: B | null;
  /** Base version and live terms (uid, coefficient) of the effective weight as last recorded. */
  signature: string;
  /** Recorded by `fuse`, merged into a new base by `compute`. */
  pendingFuse: readonly T[] | null;
  /** Recorded by `setTerms`, merged into the effective weight by `compute`. */
  pendingTerms: readonly T[] | null;
}

export function signatureOf(baseVersion: number, terms: readonly StoreTerm[]): string {
  return `${baseVersion}|${terms.map((t) => `${t.uid}:${t.coefficient}`).join(',')}`;
}

/** Staged entries of one change: nothing is visible to the store until it applies them. */
export class StoreLedger<E extends LedgerEntry<unknown, T>, T extends StoreTerm = StoreTerm> {
  readonly staged = new Map<string, E>();
  /** Modules whose live terms changed (their effective weight is rewritten). */
  readonly changed = new Set<string>();
  /** Modules no adapter touches any more, forgotten at commit. */
  readonly dropped = new Set<string>();

  constructor(
    private readonly committed: ReadonlyMap<string, E>,
    /** Names the store in internal errors. */
    private readonly label: string,
  ) {}

  private internal(message: string, id: string): LorafuseError {
    return new LorafuseError('internal', `${this.label}: ${message}`, { module: id });
  }

  has(id: string): boolean {
    return this.staged.has(id) || this.committed.has(id);
  }

  /** The module as this change sees it, for reading (staged, else committed). */
  peek(id: string): E {
    const e = this.staged.get(id) ?? this.committed.get(id);
    if (!e) throw this.internal(`no module ${id}`, id);
    return e;
  }

  /** The committed entry, if any (what the networks are bound to until commit). */
  committedEntry(id: string): E | undefined {
    return this.committed.get(id);
  }

  /** The module's staged copy, for writing (made on first write). */
  entry(id: string): E {
    const s = this.staged.get(id);
    if (s) return s;
    const copy = { ...this.peek(id) };
    this.staged.set(id, copy);
    return copy;
  }

  /** A new module's first entry (the caller checked it is not held). */
  stage(id: string, e: E): void {
    this.staged.set(id, e);
  }

  /** Folds `terms` into the module's base at `compute`; the first fuse keeps the base to restore. */
  fuse(id: string, terms: readonly T[]): void {
    if (terms.length === 0) return;
    const e = this.entry(id);
    if (e.pendingFuse) throw this.internal(`module ${id} is fused twice in one change`, id);
    e.pristine ??= e.base;
    e.pendingFuse = terms;
    e.baseVersion++;
  }

  /** Restores the base from before the first fuse (bit-exact: it was never written). */
  unfuse(id: string): void {
    const e = this.entry(id);
    if (e.pristine === null) return;
    e.pendingFuse = null;
    e.base = e.pristine;
    e.pristine = null;
    e.baseVersion++;
  }

  /** Makes the fused base permanent (unload: what is fused stays in, nothing left to unfuse). */
  bake(id: string): void {
    this.entry(id).pristine = null;
  }

  /** The live terms of a module; its effective weight is merged at `compute` only when they changed. */
  setTerms(id: string, terms: readonly T[]): void {
    const current = this.peek(id);
    const signature = signatureOf(current.baseVersion, terms);
    if (signature === current.signature) return;
    const e = this.entry(id);
    e.signature = signature;
    e.pendingTerms = terms;
    this.changed.add(id);
  }

  /** Forgets a module no adapter touches, unless its base holds something fused. */
  dropIfUnchanged(id: string): void {
    const e = this.peek(id);
    if (e.base === e.source && e.pristine === null) this.dropped.add(id);
  }

  /** Staged entries with a fuse to run. */
  pendingFuses(): [string, E][] {
    return [...this.staged].filter(([, e]) => e.pendingFuse);
  }

  /** Staged entries whose live terms changed. */
  pendingLive(): [string, E][] {
    return [...this.staged].filter(([, e]) => e.pendingTerms);
  }

  /** Throws when a recorded merge was not run (commit before compute). */
  refuseUncomputed(): void {
    for (const [id, e] of this.staged) {
      if (e.pendingFuse || e.pendingTerms) throw this.internal(`commit before compute (module ${id})`, id);
    }
  }
}
