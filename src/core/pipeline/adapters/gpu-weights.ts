/**
 * The weights of every module an adapter touches, WebGPU path (DESIGN.md decisions 1, 3, 4): the
 * `AdapterStore` of the WebGPU backend, the GPU twin of weight-store.ts, with the same transaction
 * steps and the same bookkeeping (store-ledger.ts).
 * - `source`: the base GPUBuffers as uploaded, never written after (pristine);
 * - `base`: what the networks run without live adapters: `source`, or a fused buffer (a fuse
 *   writes `W0 + sum c_i dW_i` into a buffer of the module's fused pool, never into the current
 *   base); `pristine` keeps the buffer from before the first fuse, so unfuse restores the base
 *   bit-exactly by pointing back at it (no subtraction, nothing rewritten);
 * - `effective`: one buffer per touched module, allocated on its first live term (sized as the
 *   source, i.e. ORT-padded), rewritten from `base` by every merge.
 * Merges: plain LoRA terms go through merge-lora with persistent factor buffers (gpu-factors.ts:
 * only coefficients are rewritten per call; several terms on a module are one launch over their
 * concatenated ranks); every other kind (DoRA, LoHa, LoKr, full, norm, Tucker, a LoRA bias) through
 * `mergeModule`, with the terms' factor arrays kept on the GPU too (`FactorUploads`).
 * Dirty tracking as on the CPU: a module is merged only when its signature (base version plus
 * each term's uid and coefficient) changed. Every fused or effective weight is checked for
 * NaN/Inf (`assertFinite`, naming the module) before the change commits.
 * Binding: at commit each changed module is bound (`GpuBindingSink.bind`, e.g. a session's
 * `setWeightBuffer`) to its effective buffers when it has live terms, to its base otherwise.
 * Atomicity: a failed `compute` re-merges the committed terms of the modules it rewrote, so the
 * buffers the networks are bound to hold the committed weights again.
 */
import { LorafuseError } from '../../../errors.ts';
import { submitEncoders } from '../../gpu/kernel.ts';
import { mergeLora } from '../../gpu/kernels/merge-lora/merge-lora.ts';
import { factorArrays, mergeModule } from '../../gpu/merge-module.ts';
import { readWeightValues } from '../../gpu/read-buffer.ts';
import { type WeightDtype, weightWords } from '../../gpu/weight-words.ts';
import { ortBufferSize } from '../../graph/runner/session.ts';
import type { Component } from '../../lora/adapter.ts';
import type { BaseParams } from '../../lora/merge-cpu.ts';
import type {
  AdapterStore,
  AdapterStoreTransaction,
  ModuleBase,
  ModuleWeights,
  StoreCounters,
} from './adapter-store.ts';
import { ConcatFactorCache, FactorCache, FactorUploads, type GpuTerm } from './gpu-factors.ts';
import { FiniteBatch, type FiniteCheck, nonfiniteError } from './gpu-finite-batch.ts';
import { isPlainLora } from './plain-lora.ts';
import { type LedgerEntry, StoreLedger, signatureOf } from './store-ledger.ts';
import { storeId } from './weight-store.ts';

export type { GpuTerm } from './gpu-factors.ts';

/** A module's weight (and bias) as GPU buffers. */
export interface GpuParams {
  readonly weight: GPUBuffer;
  readonly bias?: GPUBuffer;
}

/** Where bindings go: a network session (`setWeightBuffer`), a test double. */
export interface GpuBindingSink {
  bind(component: Component, module: string, params: GpuParams, dtype: WeightDtype): void;
}

/** A module's base already on the GPU (e.g. from `weightBuffersFromSafetensors`). */
export interface GpuBase {
  params: GpuParams;
  dtype: WeightDtype;
  weightShape: readonly number[];
  /** Elements of the bias (default: the weight's first dim when there is a bias). */
  biasCount?: number;
}

/** Where the GPU store reads the model's own weights of a module: its session's buffers, or CPU arrays. */
export interface GpuBaseSource {
  read(component: Component, module: string): ModuleBase | Promise<ModuleBase>;
}

export interface GpuStoreOptions {
  base?: GpuBaseSource;
}

export interface GpuStoreStats extends StoreCounters {
  /** Launch paths: merge-lora launches on persistent factors, `mergeModule` calls. */
  loraLaunches: number;
  moduleMerges: number;
  /** Buffers this store created (bases, effective, fused pools); factors: `factors`, `concat`. */
  buffersCreated: number;
  /** Merges per module id (dirty-tracking checks). */
  perModule: Map<string, number>;
}

/** Buffers a module owns, shared by its committed and staged entries (allocated once). */
interface Owned {
  effective: GpuParams | null;
  fusedPool: GpuParams[];
  /** What the sinks were last given. */
  bound: GpuParams | null;
  /** NaN/Inf check results: of the effective weight, of a fused one. */
  checks: { effective: GPUBuffer | null; fused: GPUBuffer | null };
}

interface Entry extends LedgerEntry<GpuParams, GpuTerm> {
  readonly dtype: WeightDtype;
  readonly weightShape: readonly number[];
  readonly count: number;
  readonly biasCount: number;
  readonly uploaded: boolean;
  readonly owned: Owned;
  /** The live terms the effective buffers hold (committed with the entry). */
  terms: readonly GpuTerm[];
}

/** Read-only view of one module's buffers. */
export interface GpuModuleWeights {
  readonly component: Component;
  readonly module: string;
  readonly dtype: WeightDtype;
  readonly count: number;
  readonly source: GpuParams;
  readonly base: GpuParams;
  readonly effective: GpuParams | null;
  /** What the networks run now (effective with live terms, else base). */
  readonly bound: GpuParams;
  readonly fused: boolean;
  readonly terms: readonly GpuTerm[];
}

/** Read at call time: the WebGPU globals exist only once a GPU is set up. */
const usage = (): GPUBufferUsageFlags =>
  GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export class GpuWeightStore implements AdapterStore {
  readonly kind = 'gpu';
  private readonly entries = new Map<string, Entry>();
  private readonly sinks: GpuBindingSink[] = [];
  readonly factors: FactorCache;
  /** Concatenated factors of modules with several plain LoRA terms (one launch for all). */
  readonly concat: ConcatFactorCache;
  /** Factor arrays of the terms `mergeModule` merges (DoRA, LyCORIS kinds, ...), kept on the GPU. */
  readonly uploads: FactorUploads;
  readonly finite: FiniteBatch;
  readonly stats: GpuStoreStats = {
    recomputes: 0,
    fuses: 0,
    loraLaunches: 0,
    moduleMerges: 0,
    buffersCreated: 0,
    writes: 0,
    factorAllocations: 0,
    perModule: new Map(),
  };
  private readonly baseSource: GpuBaseSource | null;

  constructor(
    readonly device: GPUDevice,
    options: GpuStoreOptions = {},
  ) {
    this.factors = new FactorCache(device);
    this.concat = new ConcatFactorCache(device);
    this.uploads = new FactorUploads(device);
    this.finite = new FiniteBatch(device);
    this.baseSource = options.base ?? null;
  }

  addSink(sink: GpuBindingSink): void {
    this.sinks.push(sink);
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  ids(): string[] {
    return [...this.entries.keys()];
  }

  get(id: string): GpuModuleWeights | undefined {
    const e = this.entries.get(id);
    if (!e) return undefined;
    return {
      component: e.component,
      module: e.module,
      dtype: e.dtype,
      count: e.count,
      source: e.source,
      base: e.base,
      effective: e.owned.effective,
      bound: boundOf(e),
      fused: e.pristine !== null,
      terms: e.terms,
    };
  }

  info(id: string): { component: Component; module: string; fused: boolean } | undefined {
    const e = this.entries.get(id);
    return e && { component: e.component, module: e.module, fused: e.pristine !== null };
  }

  async readBase(component: Component, module: string): Promise<ModuleBase> {
    if (!this.baseSource) {
      throw new LorafuseError(
        'internal',
        `GPU weight store: no base source to read ${storeId(component, module)} from`,
        { module: storeId(component, module) },
      );
    }
    return this.baseSource.read(component, module);
  }

  /** Reads a module's base and effective buffers back (float32; waits for the queue). */
  async read(id: string): Promise<ModuleWeights | undefined> {
    const e = this.entries.get(id);
    if (!e) return undefined;
    const base = await this.download(e, e.base);
    const bound = boundOf(e);
    const effective = bound === e.base ? base : await this.download(e, bound);
    return { component: e.component, module: e.module, base, effective, fused: e.pristine !== null };
  }

  async readFused(component: Component, module: string): Promise<BaseParams> {
    const e = this.entries.get(storeId(component, module));
    if (e) return this.download(e, e.base);
    const b = await this.readBase(component, module);
    if (!('params' in b)) return b;
    const count = numel(b.weightShape);
    const weight = {
      shape: [...b.weightShape],
      data: await readWeightValues(this.device, b.params.weight, b.dtype, count),
    };
    if (!b.params.bias) return { weight };
    const n = b.biasCount ?? b.weightShape[0] ?? 1;
    return {
      weight,
      bias: { shape: [n], data: await readWeightValues(this.device, b.params.bias, b.dtype, n) },
    };
  }

  private async download(e: Entry, p: GpuParams): Promise<BaseParams> {
    const weight = {
      shape: [...e.weightShape],
      data: await readWeightValues(this.device, p.weight, e.dtype, e.count),
    };
    if (!p.bias || e.biasCount === 0) return { weight };
    return {
      weight,
      bias: { shape: [e.biasCount], data: await readWeightValues(this.device, p.bias, e.dtype, e.biasCount) },
    };
  }

  prune(): void {
    this.pruneFactors();
  }

  begin(): GpuStoreTransaction {
    return new GpuStoreTransaction(this, this.entries);
  }

  /**
   * A zeroed CPU factor array (the manager's target-rank buffers, `hotswap.ts`), counted as the CPU
   * store counts them; their GPU copies are made once per term and rewritten in place by hotswaps.
   */
  allocFactor(length: number): Float32Array {
    this.stats.factorAllocations++;
    return new Float32Array(length);
  }

  /** Factor buffers of terms no module holds live are destroyed (call after removing adapters or a hotswap). */
  pruneFactors(): void {
    const live = new Set<unknown>();
    for (const e of this.entries.values()) for (const t of e.terms) live.add(FactorCache.keyOf(t));
    this.factors.prune((k) => live.has(k));
    // Concatenated factors are keyed `<module id>:<effective|fused>`: kept while the module is held
    // with several live terms (the fused ones, made at a fuse, go with the next prune).
    const several = new Set(
      [...this.entries].filter(([, e]) => e.terms.length > 1).map(([id]) => `${id}:effective`),
    );
    this.concat.prune((k) => several.has(k));
    const arrays = new Set<Float32Array>();
    for (const e of this.entries.values()) {
      for (const t of e.terms) for (const a of factorArrays(t.module)) arrays.add(a);
    }
    this.uploads.prune((d) => arrays.has(d));
  }

  /** @internal */
  createBuffer(label: string, size: number, data?: ArrayBufferView): GPUBuffer {
    this.stats.buffersCreated++;
    const b = this.device.createBuffer({ label, size, usage: usage(), mappedAtCreation: data !== undefined });
    if (data) {
      new Uint8Array(b.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      b.unmap();
    }
    return b;
  }

  /** @internal a buffer pair shaped like the module's source. */
  allocLike(e: Entry, what: string): GpuParams {
    const id = storeId(e.component, e.module);
    const weight = this.createBuffer(`${id}:${what}.weight`, e.source.weight.size);
    return e.source.bias
      ? { weight, bias: this.createBuffer(`${id}:${what}.bias`, e.source.bias.size) }
      : { weight };
  }

  /** @internal counts one merge of a module. */
  counted(id: string): void {
    this.stats.perModule.set(id, (this.stats.perModule.get(id) ?? 0) + 1);
  }

  /** @internal applied by GpuStoreTransaction.commit */
  apply(staged: Map<string, Entry>, dropped: ReadonlySet<string>): void {
    for (const [id, e] of staged) this.entries.set(id, e);
    for (const [id, e] of this.entries) {
      if (!staged.has(id) && !dropped.has(id)) continue;
      const target = dropped.has(id) ? e.source : boundOf(e);
      if (e.owned.bound === target) continue;
      for (const sink of this.sinks) {
        sink.bind(e.component, e.module, target, e.dtype);
        this.stats.writes++;
      }
      e.owned.bound = target;
    }
    for (const id of dropped) {
      const e = this.entries.get(id);
      if (!e) continue;
      destroyOwned(e.owned);
      this.entries.delete(id);
    }
  }

  /** Destroys every buffer the store made (uploaded bases included; given ones are the caller's). */
  destroy(): void {
    for (const e of this.entries.values()) {
      destroyOwned(e.owned);
      if (e.uploaded) destroyParams(e.source);
    }
    this.entries.clear();
    this.factors.destroy();
    this.concat.destroy();
    this.uploads.destroy();
    this.finite.destroy();
  }
}

function boundOf(e: Entry): GpuParams {
  return e.terms.length > 0 && e.owned.effective ? e.owned.effective : e.base;
}

function destroyParams(p: GpuParams): void {
  p.weight.destroy();
  p.bias?.destroy();
}

function destroyOwned(o: Owned): void {
  if (o.effective) destroyParams(o.effective);
  for (const p of o.fusedPool) destroyParams(p);
  o.checks.effective?.destroy();
  o.checks.fused?.destroy();
  o.checks = { effective: null, fused: null };
  o.effective = null;
  o.fusedPool = [];
}

/** Staged changes; nothing is bound until `commit()`. */
export class GpuStoreTransaction implements AdapterStoreTransaction {
  private readonly ledger: StoreLedger<Entry, GpuTerm>;
  private computed = false;

  constructor(
    private readonly store: GpuWeightStore,
    committed: ReadonlyMap<string, Entry>,
  ) {
    this.ledger = new StoreLedger(committed, 'GPU weight store');
  }

  has(id: string): boolean {
    return this.ledger.has(id);
  }

  /** A module an adapter now touches: its base uploaded from the CPU (f32), or GPU buffers given. */
  addModule(component: Component, module: string, base: ModuleBase): void {
    const id = storeId(component, module);
    if (this.has(id)) return;
    let source: GpuParams;
    let dtype: WeightDtype;
    let weightShape: readonly number[];
    let biasCount: number;
    let uploaded = false;
    if ('params' in base) {
      source = base.params;
      dtype = base.dtype;
      weightShape = [...base.weightShape];
      biasCount = base.params.bias ? (base.biasCount ?? weightShape[0] ?? 1) : 0;
    } else {
      const up = (what: string, data: Float32Array) => {
        const padded = new Float32Array(ortBufferSize(data.byteLength) / 4);
        padded.set(data);
        return this.store.createBuffer(`${id}:source.${what}`, padded.byteLength, padded);
      };
      source = base.bias
        ? { weight: up('weight', base.weight.data), bias: up('bias', base.bias.data) }
        : { weight: up('weight', base.weight.data) };
      dtype = 'f32';
      weightShape = [...base.weight.shape];
      biasCount = base.bias?.data.length ?? 0;
      uploaded = true;
    }
    const count = numel(weightShape);
    const need = weightWords(dtype, count) * 4;
    if (source.weight.size < need) {
      throw new LorafuseError(
        'invalid-argument',
        `GPU weight store: ${id}.weight holds ${source.weight.size} bytes, a ${dtype} [${weightShape}] needs ${need}.`,
        { module: id, size: source.weight.size, needed: need },
      );
    }
    this.ledger.stage(id, {
      component,
      module,
      dtype,
      weightShape,
      count,
      biasCount,
      source,
      uploaded,
      owned: {
        effective: null,
        fusedPool: [],
        bound: uploaded ? null : source,
        checks: { effective: null, fused: null },
      },
      base: source,
      baseVersion: 0,
      pristine: null,
      terms: [],
      signature: signatureOf(0, []),
      pendingFuse: null,
      pendingTerms: null,
    });
  }

  fuse(id: string, terms: readonly GpuTerm[]): void {
    this.ledger.fuse(id, terms);
  }

  unfuse(id: string): void {
    this.ledger.unfuse(id);
  }

  bake(id: string): void {
    this.ledger.bake(id);
  }

  setTerms(id: string, terms: readonly GpuTerm[]): void {
    this.ledger.setTerms(id, terms);
  }

  dropIfUnchanged(id: string): void {
    this.ledger.dropIfUnchanged(id);
  }

  /** Runs the merges: fuses into free pool buffers first, then the effective weights. */
  async compute(): Promise<void> {
    const rewritten: Entry[] = [];
    try {
      const fuses = this.ledger.pendingFuses();
      const fusedTo = new Map<Entry, GpuParams>();
      const fuseEncoder = this.encoder('fuse');
      for (const [, e] of fuses) {
        const dst = this.freeFused(e);
        await this.merge(e, e.base, dst, e.pendingFuse!, 'fused', fuseEncoder);
        fusedTo.set(e, dst);
      }
      this.submit(fuseEncoder);
      await this.check(
        fuses,
        (e) => fusedTo.get(e)!.weight,
        'fused',
        'the fused weight',
        (e) => e.pendingFuse!,
      );
      for (const [, e] of fuses) {
        e.base = fusedTo.get(e)!;
        e.pendingFuse = null;
        this.store.stats.fuses++;
      }
      const live = this.ledger.pendingLive().filter(([, e]) => e.pendingTerms!.length > 0);
      const liveEncoder = this.encoder('effective');
      for (const [id, e] of live) {
        e.owned.effective ??= this.store.allocLike(e, 'effective');
        const committed = this.ledger.committedEntry(id);
        if (committed && committed.terms.length > 0) rewritten.push(committed);
        await this.merge(e, e.base, e.owned.effective, e.pendingTerms!, 'effective', liveEncoder);
        this.store.stats.recomputes++;
      }
      this.submit(liveEncoder);
      await this.check(
        live,
        (e) => e.owned.effective!.weight,
        'effective',
        'the effective weight',
        (e) => e.pendingTerms!,
      );
      for (const e of this.ledger.staged.values()) {
        if (!e.pendingTerms) continue;
        e.terms = e.pendingTerms;
        e.pendingTerms = null;
      }
      this.computed = true;
    } catch (err) {
      // Effective buffers the networks may be bound to get their committed weights back.
      const restore = this.encoder('restore');
      for (const c of rewritten) {
        if (c.owned.effective) await this.merge(c, c.base, c.owned.effective, c.terms, 'effective', restore);
      }
      this.submit(restore);
      throw err;
    }
  }

  private encoder(phase: string): GPUCommandEncoder {
    return this.store.device.createCommandEncoder({ label: `gpu-store:${phase}` });
  }

  private submit(encoder: GPUCommandEncoder): void {
    submitEncoders(this.store.device, [encoder]);
  }

  /** One batched NaN/Inf check of the weights just merged; throws naming the first bad module. */
  private async check(
    list: readonly (readonly [string, Entry])[],
    data: (e: Entry) => GPUBuffer,
    slot: 'effective' | 'fused',
    what: string,
    terms: (e: Entry) => readonly GpuTerm[],
  ): Promise<void> {
    const byCheck = new Map<FiniteCheck, Entry>();
    for (const [id, e] of list) {
      e.owned.checks[slot] ??= this.store.finite.resultBuffer(`${id}:${slot}`);
      const result = e.owned.checks[slot];
      byCheck.set({ module: id, dtype: e.dtype, count: e.count, data: data(e), result }, e);
    }
    const bad = await this.store.finite.run([...byCheck.keys()]);
    const first = bad[0];
    if (first) throw nonfiniteError(first, what, terms(byCheck.get(first.check)!));
  }

  private freeFused(e: Entry): GpuParams {
    const busy = new Set<GpuParams>([e.base, e.source]);
    if (e.pristine) busy.add(e.pristine);
    const committed = this.ledger.committedEntry(storeId(e.component, e.module));
    if (committed) {
      busy.add(committed.base);
      if (committed.pristine) busy.add(committed.pristine);
    }
    const free = e.owned.fusedPool.find((p) => !busy.has(p));
    if (free) return free;
    const made = this.store.allocLike(e, `fused${e.owned.fusedPool.length}`);
    e.owned.fusedPool.push(made);
    return made;
  }

  /** `dst = src + sum_i c_i dW_i(src)`: merge-lora on persistent factors, else `mergeModule`. */
  private async merge(
    e: Entry,
    src: GpuParams,
    dst: GpuParams,
    terms: readonly GpuTerm[],
    what: string,
    encoder: GPUCommandEncoder,
  ): Promise<void> {
    const id = storeId(e.component, e.module);
    const device = this.store.device;
    this.store.counted(id);
    const out = e.weightShape[0] ?? 1;
    const n = e.count / out;
    const plain = terms.every((t) => isPlainLora(t.module, out, n));
    if (!plain || terms.length === 0) {
      this.store.stats.moduleMerges++;
      await mergeModule(device, {
        module: `${id}:${what}`,
        dtype: e.dtype,
        weightShape: e.weightShape,
        w0: src.weight,
        wEff: dst.weight,
        ...(src.bias && dst.bias ? { bias: { b0: src.bias, bEff: dst.bias, count: e.biasCount } } : {}),
        terms,
        persistent: this.store.uploads,
      });
      return;
    }
    // One launch: a single term's own buffers, several terms' ranks concatenated.
    const label = `${id}:${what}`;
    const f =
      terms.length === 1
        ? this.store.factors.ensure(terms[0]!, out, n, `${id}:${terms[0]!.source ?? 'term'}`)
        : this.store.concat.ensure(label, terms, out, n, label);
    await mergeLora(device, {
      module: label,
      dtype: e.dtype,
      outFeatures: out,
      inFeatures: n,
      rank: f.t,
      w0: src.weight,
      up: f.up,
      scale: f.scale,
      down: f.down,
      wEff: dst.weight,
      encoder,
    });
    if (src.bias && dst.bias) {
      encoder.copyBufferToBuffer(src.bias, 0, dst.bias, 0, Math.min(src.bias.size, dst.bias.size));
    }
    this.store.stats.loraLaunches++;
  }

  /** Binds and publishes the change (after `compute`). */
  commit(): void {
    if (!this.computed) this.ledger.refuseUncomputed();
    this.store.apply(this.ledger.staged, this.ledger.dropped);
  }
}
