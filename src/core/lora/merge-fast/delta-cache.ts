/**
 * A bounded cache of LoRA deltas `dW = s·up·down` (`[out, in]`, float32), one per (module,
 * factor data), kept in a WebAssembly memory of its own, so that a change of coefficient only (a
 * per-step schedule) costs `W = W0 + Σ c_i·dW_i`: a memory-bound pass (axpy-kernel.ts: W0 copied
 * in, f32x4 multiply-add, result copied out) instead of a rank-R product. adapters/merge-terms.ts
 * fills and uses it; the results are the same bits with or without it (combine-deltas.ts is the
 * reference), so the cache changes only the time a merge takes, never its numbers.
 *
 * Keys: an owner object (the adapter module) plus what names its data: the store's `uid` (a
 * hotswap rewrites factors in place under a new uid), the scale, the rank and the shape; a lookup
 * that finds the owner with other data drops the old delta. An entry dies with its owner (a
 * FinalizationRegistry gives its bytes back once the module is garbage-collected).
 *
 * Admission: a delta is kept from the second merge of the same data on (a first `lookup` only
 * notes the key; `store` keeps the delta once a later call looked it up again), so weights that
 * are set once (no schedule, no slider) cost no memory here; `keepOnFirstUse` keeps it at once.
 *
 * Budget: the deltas' bytes never exceed `budgetBytes` (`createMergeBackend`'s `deltaCacheBytes`,
 * default 512 MiB: every attention projection of SD1.5 takes about 374 MB). A delta that does not
 * fit evicts the least recently used entries not used by the current merge call (`begin`), else it
 * is not kept (that module's merges stay rank-R products). Room left over also keeps a copy of W0
 * (keyed by the base array, which is never written) for modules whose deltas are all cached, which
 * saves copying W0 in at each merge; a base copy never evicts anything. The memory holding the deltas grows to its
 * high-water mark (budget, plus fragmentation and one or two module-sized scratch areas) and never
 * shrinks: `clear()` frees the deltas for reuse, `dispose()` drops the memory.
 */
import { LorafuseError } from '../../../errors.ts';
import { type AxpyKernel, axpyKernelBytes } from './axpy-kernel.ts';
import { combineDeltas } from './combine-deltas.ts';

const PAGE = 65536;
/** 512 MiB. */
export const DEFAULT_DELTA_CACHE_BYTES = 512 << 20;

/** What a delta is made of; a lookup with other values than the stored ones is a miss. */
export interface DeltaKey {
  /** Identity (held weakly): the adapter module. */
  readonly owner: object;
  /** Names the factor data (changes when they are rewritten in place). */
  readonly uid: number;
  readonly scale: number;
  readonly rank: number;
  readonly out: number;
  readonly in: number;
}

/** A cached delta: valid until the next `lookup`/`store` of its owner with other data, or eviction. */
export interface DeltaEntry {
  readonly length: number;
}

interface Entry extends DeltaEntry {
  /** A delta, or a copy of a base weight W0 (then the key fields are unused). */
  kind: 'delta' | 'base';
  at: number;
  bytes: number;
  uid: number;
  scale: number;
  rank: number;
  out: number;
  in: number;
  used: number;
  live: boolean;
  /** Filled (a reserved delta is not, until `fill`). */
  ready: boolean;
}

interface Block {
  at: number;
  bytes: number;
}

export interface DeltaCacheOptions {
  /** Keep a delta from its first merge on (default: from the second, see Admission above). */
  keepOnFirstUse?: boolean;
}

export interface DeltaCacheStats {
  hits: number;
  misses: number;
  stored: number;
  /** Deltas not kept because their data were merged for the first time. */
  deferred: number;
  /** Deltas that did not fit the budget (not kept). */
  refused: number;
  evicted: number;
}

/** A delta in a merge: a cache entry or a plain array (a miss, or a cache-less backend). */
export interface CachedTerm {
  readonly delta: DeltaEntry | Float32Array;
  readonly coefficient: number;
}

const align16 = (n: number): number => (n + 15) & ~15;

export class DeltaCache {
  readonly stats: DeltaCacheStats = { hits: 0, misses: 0, stored: 0, deferred: 0, refused: 0, evicted: 0 };
  private readonly byOwner = new WeakMap<object, Entry>();
  /** Keys looked up and missed; `admit` once looked up again in a later call. */
  private readonly seen = new WeakMap<object, { key: Omit<DeltaKey, 'owner'>; admit: boolean }>();
  private readonly byBase = new WeakMap<Float32Array, Entry>();
  /** Live entries, least recently used first. */
  private readonly lru = new Set<Entry>();
  private readonly finalizer = new FinalizationRegistry<Entry>((e) => this.drop(e));
  private free: Block[] = [];
  /** Bytes below this address are allocated or on the free list. */
  private top = 16;
  private heldBytes = 0;
  private generation = 0;
  private view: Float32Array;
  private disposed = false;

  private constructor(
    private budget: number,
    private readonly memory: WebAssembly.Memory,
    private readonly kernel: AxpyKernel,
    private readonly keepOnFirstUse: boolean,
  ) {
    this.view = new Float32Array(memory.buffer);
  }

  /** Throws `not-implemented` where WebAssembly SIMD is unavailable (check `wasmSimdSupported`). */
  static async create(
    budgetBytes: number = DEFAULT_DELTA_CACHE_BYTES,
    opts: DeltaCacheOptions = {},
  ): Promise<DeltaCache> {
    const memory = new WebAssembly.Memory({ initial: 1 });
    let kernel: AxpyKernel;
    try {
      const { instance } = await WebAssembly.instantiate(axpyKernelBytes(), { env: { memory } });
      kernel = instance.exports as unknown as AxpyKernel;
    } catch (e) {
      throw new LorafuseError(
        'not-implemented',
        `this JavaScript engine cannot compile the WebAssembly SIMD delta-cache kernel (${
          e instanceof Error ? e.message : String(e)
        }); create the merge backend with deltaCacheBytes: 0`,
        {},
        { cause: e },
      );
    }
    return new DeltaCache(Math.max(0, budgetBytes), memory, kernel, opts.keepOnFirstUse ?? false);
  }

  /** Bytes of deltas held now. */
  get bytes(): number {
    return this.heldBytes;
  }

  get budgetBytes(): number {
    return this.budget;
  }

  /** Deltas held now. */
  get size(): number {
    return [...this.lru].filter((e) => e.kind === 'delta').length;
  }

  /** Resident copies of base weights held now. */
  get bases(): number {
    return this.lru.size - this.size;
  }

  /** A new budget; shrinking evicts least recently used deltas until they fit. */
  setBudget(bytes: number): void {
    this.budget = Math.max(0, bytes);
    for (const e of this.lru) {
      if (this.heldBytes <= this.budget) break;
      this.evict(e);
    }
  }

  /** Starts a merge call: deltas looked up or stored from now on are not evicted until the next. */
  begin(): void {
    this.generation++;
  }

  /** The owner's delta if it was made from the same data; a stale one is dropped. */
  lookup(key: DeltaKey): DeltaEntry | null {
    const e = this.byOwner.get(key.owner);
    if (!e?.live || !e.ready || !matches(e, key)) {
      if (e) this.evict(e);
      this.stats.misses++;
      const seen = this.seen.get(key.owner);
      if (seen && matches(seen.key, key)) {
        // looked up again by a later call (not twice in one: a request list names a module once)
        seen.admit = true;
      } else {
        const { owner: _, ...rest } = key;
        this.seen.set(key.owner, { key: rest, admit: this.keepOnFirstUse });
      }
      return null;
    }
    this.stats.hits++;
    this.touch(e);
    return e;
  }

  /** Keeps a copy of `delta` when `reserve` gives a place for it (see there); null otherwise. */
  store(key: DeltaKey, delta: Float32Array): DeltaEntry | null {
    const e = this.reserve(key);
    if (e) this.fill(e, delta);
    return e;
  }

  /**
   * A place for the delta of `key` (`key.out * key.in` values), to `fill` once computed, if the key
   * was admitted (looked up in an earlier call too, or `keepOnFirstUse`) and the budget allows;
   * null otherwise. Until filled it is no hit; `discard` gives it back.
   */
  reserve(key: DeltaKey): DeltaEntry | null {
    if (this.disposed) return null;
    const seen = this.seen.get(key.owner);
    if (!(this.keepOnFirstUse || (seen?.admit && matches(seen.key, key)))) {
      this.stats.deferred++;
      return null;
    }
    const length = key.out * key.in;
    const old = this.byOwner.get(key.owner);
    if (old) this.evict(old);
    const bytes = align16(length * 4);
    if (bytes > this.budget || !this.makeRoom(bytes)) {
      this.stats.refused++;
      return null;
    }
    const at = this.alloc(bytes);
    if (at === null) {
      this.stats.refused++;
      return null;
    }
    const e: Entry = {
      kind: 'delta',
      length,
      at,
      bytes,
      uid: key.uid,
      scale: key.scale,
      rank: key.rank,
      out: key.out,
      in: key.in,
      used: this.generation,
      live: true,
      ready: false,
    };
    this.byOwner.set(key.owner, e);
    this.lru.add(e);
    this.finalizer.register(key.owner, e, e);
    this.heldBytes += bytes;
    return e;
  }

  /** Copies the computed delta into a reserved place. */
  fill(entry: DeltaEntry, delta: Float32Array): void {
    const e = entry as Entry;
    if (!e.live || e.kind !== 'delta' || !this.lru.has(e)) {
      throw new LorafuseError('internal', 'delta cache: fill of a place this cache no longer holds', {
        length: entry.length,
      });
    }
    this.current().set(delta.subarray(0, e.length), e.at / 4);
    e.ready = true;
    this.stats.stored++;
  }

  /** Gives a reserved (or any) place back. */
  discard(entry: DeltaEntry): void {
    const e = entry as Entry;
    if (this.lru.has(e)) this.evict(e);
  }

  /**
   * `out = W0 + Σ c_i·dW_i` (combine-deltas.ts's arithmetic): in wasm when every delta is an entry
   * of this cache, else in JavaScript (same bits).
   */
  combine(out: Float32Array, w0: Float32Array, terms: readonly CachedTerm[]): void {
    const entries = terms.map((t) => (t.delta instanceof Float32Array ? null : this.own(t.delta)));
    if (terms.length > 0 && entries.every((e) => e !== null) && this.combineHere(out, w0, terms, entries))
      return;
    const f = this.current();
    combineDeltas(
      out,
      w0,
      terms.map((t, i) => {
        const e = entries[i];
        return {
          delta: e ? f.subarray(e.at / 4, e.at / 4 + e.length) : (t.delta as Float32Array),
          coefficient: t.coefficient,
        };
      }),
    );
  }

  /** The wasm combine (false if its scratch cannot be had: the caller falls back to JS). */
  private combineHere(
    out: Float32Array,
    w0: Float32Array,
    terms: readonly CachedTerm[],
    entries: readonly (Entry | null)[],
  ): boolean {
    const n = out.length;
    const bytes = align16(n * 4);
    const base = this.baseOf(w0.length === n ? w0 : null, n);
    const s = this.alloc(bytes);
    if (s === null) return false;
    const acc = base === null && terms.length > 1 ? this.alloc(bytes) : s;
    if (acc === null) {
      this.release({ at: s, bytes });
      return false;
    }
    const n4 = bytes / 16;
    const k = this.kernel;
    const e = entries as readonly Entry[];
    if (base === null) this.current().set(w0.subarray(0, n), s / 4);
    if (terms.length === 1) {
      k.madd(s, base?.at ?? s, e[0]!.at, terms[0]!.coefficient, n4);
    } else {
      // acc = Σ c_i dW_i, then W0 + acc (acc is s itself when W0 is resident)
      k.scale(acc, 0, e[0]!.at, terms[0]!.coefficient, n4);
      for (let i = 1; i < terms.length; i++) k.madd(acc, acc, e[i]!.at, terms[i]!.coefficient, n4);
      k.madd(s, base?.at ?? s, acc, 1, n4);
      if (acc !== s) this.release({ at: acc, bytes });
    }
    out.set(this.current().subarray(s / 4, s / 4 + n));
    this.release({ at: s, bytes });
    return true;
  }

  /** The resident copy of `w0` (made now if the budget has room without evicting), or null. */
  private baseOf(w0: Float32Array | null, n: number): Entry | null {
    if (w0 === null) return null;
    const hit = this.byBase.get(w0);
    if (hit?.live && hit.length === n) {
      this.touch(hit);
      return hit;
    }
    const bytes = align16(n * 4);
    if (this.disposed || this.heldBytes + bytes > this.budget) return null;
    const at = this.alloc(bytes);
    if (at === null) return null;
    this.current().set(w0, at / 4);
    const e: Entry = {
      kind: 'base',
      length: n,
      at,
      bytes,
      uid: 0,
      scale: 0,
      rank: 0,
      out: 0,
      in: 0,
      used: this.generation,
      live: true,
      ready: true,
    };
    this.byBase.set(w0, e);
    this.lru.add(e);
    this.finalizer.register(w0, e, e);
    this.heldBytes += bytes;
    return e;
  }

  /** Frees every delta (the memory stays, for reuse). */
  clear(): void {
    for (const e of [...this.lru]) this.evict(e);
  }

  dispose(): void {
    this.clear();
    this.disposed = true;
    this.budget = 0;
  }

  /** The entry behind `d`; an entry evicted since it was handed out (or another cache's) is a bug. */
  private own(d: DeltaEntry): Entry {
    const e = d as Entry;
    if (e.kind === 'delta' && e.live && e.ready && this.lru.has(e)) return e;
    throw new LorafuseError(
      'internal',
      'delta cache: a merge used a delta that this cache no longer holds (evicted or replaced during the same merge call); merge again',
      { length: d.length },
    );
  }

  private touch(e: Entry): void {
    e.used = this.generation;
    this.lru.delete(e);
    this.lru.add(e);
  }

  /** Evicts least recently used entries not used in this call until `bytes` more fit. */
  private makeRoom(bytes: number): boolean {
    for (const e of this.lru) {
      if (this.heldBytes + bytes <= this.budget) return true;
      if (e.used === this.generation) return false;
      this.evict(e);
    }
    return this.heldBytes + bytes <= this.budget;
  }

  private evict(e: Entry): void {
    if (!e.live) return;
    this.finalizer.unregister(e);
    this.stats.evicted++;
    this.drop(e);
  }

  private drop(e: Entry): void {
    if (!e.live) return;
    e.live = false;
    this.lru.delete(e);
    this.heldBytes -= e.bytes;
    this.release({ at: e.at, bytes: e.bytes });
  }

  private current(): Float32Array {
    if (this.view.buffer !== this.memory.buffer) this.view = new Float32Array(this.memory.buffer);
    return this.view;
  }

  /** First fit on the free list, else from the top (growing the memory); null if it cannot grow. */
  private alloc(bytes: number): number | null {
    for (let i = 0; i < this.free.length; i++) {
      const b = this.free[i]!;
      if (b.bytes < bytes) continue;
      const at = b.at;
      if (b.bytes === bytes) this.free.splice(i, 1);
      else this.free[i] = { at: at + bytes, bytes: b.bytes - bytes };
      return at;
    }
    const at = this.top;
    const need = at + bytes - this.memory.buffer.byteLength;
    if (need > 0) {
      try {
        this.memory.grow(Math.ceil(need / PAGE));
      } catch {
        return null;
      }
    }
    this.top = at + bytes;
    return at;
  }

  /** Back to the free list, merged with its neighbours; a block at the top lowers the top. */
  private release(b: Block): void {
    let i = 0;
    while (i < this.free.length && this.free[i]!.at < b.at) i++;
    this.free.splice(i, 0, { ...b });
    if (i + 1 < this.free.length) this.mergeNext(i);
    if (i > 0) this.mergeNext(i - 1);
    const last = this.free[this.free.length - 1];
    if (last && last.at + last.bytes === this.top) {
      this.top = last.at;
      this.free.pop();
    }
  }

  private mergeNext(i: number): void {
    const a = this.free[i]!;
    const b = this.free[i + 1]!;
    if (a.at + a.bytes !== b.at) return;
    this.free.splice(i, 2, { at: a.at, bytes: a.bytes + b.bytes });
  }
}

function matches(e: Omit<DeltaKey, 'owner'>, k: DeltaKey): boolean {
  return e.uid === k.uid && e.scale === k.scale && e.rank === k.rank && e.out === k.out && e.in === k.in;
}
