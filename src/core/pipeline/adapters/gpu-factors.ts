/**
 * Persistent GPU factor buffers of plain LoRA terms (DESIGN.md decision 3, GPU path): `up`
 * [out, T], `down` [T, n] and `scale` [T] per adapter module, uploaded once; a coefficient change
 * rewrites only the T floats of `scale`, a hotswap (new uid, same slot, rank <= T) rewrites `up`
 * and `down` in place (`queue.writeBuffer`, zero-padded through one reused CPU scratch array), so
 * neither allocates a buffer.
 * `scale[j] = coefficient * alpha/rank` for `j < rank` and 0 past it, so target-rank padding adds
 * nothing whatever the padded rows hold.
 */

import type { PersistentUploads } from '../../gpu/merge-module.ts';
import { createStorageBuffer } from '../../gpu/storage-buffer.ts';
import { moduleScale } from '../../lora/merge-cpu.ts';
import type { StoreTerm } from './weight-store.ts';

/**
 * A term of the GPU store. Its factor buffers are keyed by `slot.key` when it has one (hotswap:
 * sized for `slot.rank`, every swapped-in LoRA of a lower rank is written zero-padded into them),
 * else by the `up` array itself.
 */
export type GpuTerm = StoreTerm;

export interface LoraFactorBuffers {
  up: GPUBuffer;
  down: GPUBuffer;
  scale: GPUBuffer;
  /** Rank dimension of the buffers (the file's rank, or the target rank). */
  t: number;
}

interface Cached extends LoraFactorBuffers {
  out: number;
  n: number;
  uid: number;
  /** The scale values last written (coefficient * alpha/rank, rank). */
  scaleKey: string;
}

export interface FactorStats {
  /** Factor buffers created (3 per new term: up, down, scale). */
  buffersCreated: number;
  /** `up`/`down` rewritten in place (hotswaps). */
  factorWrites: number;
  /** `scale` rewritten (coefficient changes). */
  scaleWrites: number;
}

/** Read at call time: the WebGPU globals exist only once a GPU is set up. */
const usage = (): GPUBufferUsageFlags =>
  GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** Factor buffer sets by key: creation (counted), writes through one reused staging array, pruning. */
abstract class FactorBufferSets<K, E extends LoraFactorBuffers> {
  protected readonly cache = new Map<K, E>();
  readonly stats: FactorStats = { buffersCreated: 0, factorWrites: 0, scaleWrites: 0 };
  /** Reused staging for padded writes and scales (grown, never shrunk). */
  private scratch = new Float32Array(0);

  constructor(private readonly device: GPUDevice) {}

  protected create(label: string, floats: number): GPUBuffer {
    this.stats.buffersCreated++;
    return this.device.createBuffer({ label, size: Math.max(4, floats * 4), usage: usage() });
  }

  protected write(buffer: GPUBuffer, data: Float32Array): void {
    this.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
  }

  /** `length` zeros of the staging array (valid until the next call). */
  protected staging(length: number): Float32Array {
    if (this.scratch.length < length) this.scratch = new Float32Array(length);
    const s = this.scratch.subarray(0, length);
    s.fill(0);
    return s;
  }

  /** Drops `key`'s buffers when they no longer have the wanted shape. */
  protected dropIfReshaped(key: K, same: (e: E) => boolean): E | undefined {
    const e = this.cache.get(key);
    if (!e || same(e)) return e;
    this.destroyEntry(e);
    this.cache.delete(key);
    return undefined;
  }

  /** Destroys the buffers of every key `keep` rejects. */
  prune(keep: (key: K) => boolean): void {
    for (const [key, c] of this.cache) {
      if (keep(key)) continue;
      this.destroyEntry(c);
      this.cache.delete(key);
    }
  }

  get size(): number {
    return this.cache.size;
  }

  private destroyEntry(c: E): void {
    c.up.destroy();
    c.down.destroy();
    c.scale.destroy();
  }

  destroy(): void {
    this.prune(() => false);
  }
}

export class FactorCache extends FactorBufferSets<unknown, Cached> {
  static keyOf(term: GpuTerm): unknown {
    return term.slot?.key ?? term.module.factors.up!.data;
  }

  /** `up` [out, r] into the buffer's [out, T] and `down` [r, n] into [T, n], zeros past r. */
  private writeFactors(c: Cached, up: Float32Array, down: Float32Array, r: number): void {
    if (r === c.t) {
      this.write(c.up, up);
      this.write(c.down, down);
      return;
    }
    const u = this.staging(c.out * c.t);
    for (let o = 0; o < c.out; o++) u.set(up.subarray(o * r, (o + 1) * r), o * c.t);
    this.write(c.up, u);
    const d = this.staging(c.t * c.n);
    d.set(down);
    this.write(c.down, d);
  }

  /**
   * The term's buffers, holding its factors and coefficient. Call right before encoding its launch
   * (writes are queue-ordered before the next submit).
   */
  ensure(term: GpuTerm, out: number, n: number, label: string): LoraFactorBuffers {
    const m = term.module;
    const up = m.factors.up!.data;
    const down = m.factors.down!.data;
    const r = m.factors.down!.shape[0]!;
    const t = Math.max(r, term.slot?.rank ?? 0);
    const key = FactorCache.keyOf(term);
    let c = this.dropIfReshaped(key, (e) => e.out === out && e.n === n && e.t === t);
    if (!c) {
      c = {
        up: this.create(`${label}:up`, out * t),
        down: this.create(`${label}:down`, t * n),
        scale: this.create(`${label}:scale`, t),
        t,
        out,
        n,
        uid: Number.NaN,
        scaleKey: '',
      };
      this.cache.set(key, c);
    }
    if (c.uid !== term.uid) {
      this.writeFactors(c, up, down, r);
      if (!Number.isNaN(c.uid)) this.stats.factorWrites++;
      c.uid = term.uid;
    }
    const s = term.coefficient * moduleScale(m);
    const scaleKey = `${s}|${m.rank}`;
    if (c.scaleKey !== scaleKey) {
      const scale = this.staging(t);
      scale.fill(s, 0, m.rank);
      this.write(c.scale, scale);
      this.stats.scaleWrites++;
      c.scaleKey = scaleKey;
    }
    return c;
  }
}

interface ConcatEntry extends LoraFactorBuffers {
  out: number;
  n: number;
  /** The terms' uids, in order (their factor values). */
  uids: string;
  scaleKey: string;
}

/**
 * Several plain LoRA terms on one module as ONE merge-lora launch (the issue's "one launch serves
 * any number of adapters"): per module and purpose (live or fused), `up` [out, R], `down` [R, n]
 * and `scale` [R] with the terms' ranks concatenated (each term takes max(its rank, its slot's
 * target rank) columns, zero-padded). A coefficient change rewrites `scale` only; a hotswap or a
 * new term rewrites `up`/`down` in place when R is unchanged (with target-rank slots it always is),
 * and reallocates only when the set of ranks changes.
 */
export class ConcatFactorCache extends FactorBufferSets<string, ConcatEntry> {
  /** The concatenated buffers of `terms` (all plain LoRA on an [out, n] weight) under `key`. */
  ensure(key: string, terms: readonly GpuTerm[], out: number, n: number, label: string): LoraFactorBuffers {
    const ranks = terms.map((t) => Math.max(t.module.factors.down!.shape[0]!, t.slot?.rank ?? 0));
    const r = ranks.reduce((a, b) => a + b, 0);
    let c = this.dropIfReshaped(key, (e) => e.out === out && e.n === n && e.t === r);
    if (!c) {
      c = {
        up: this.create(`${label}:up-cat`, out * r),
        down: this.create(`${label}:down-cat`, r * n),
        scale: this.create(`${label}:scale-cat`, r),
        t: r,
        out,
        n,
        uids: '',
        scaleKey: '',
      };
      this.cache.set(key, c);
    }
    const uids = terms.map((t) => t.uid).join(',');
    if (c.uids !== uids) {
      const up = this.staging(out * r);
      let off = 0;
      terms.forEach((t, j) => {
        const tr = t.module.factors.down!.shape[0]!;
        const u = t.module.factors.up!.data;
        for (let o = 0; o < out; o++) up.set(u.subarray(o * tr, (o + 1) * tr), o * r + off);
        off += ranks[j]!;
      });
      this.write(c.up, up);
      const down = this.staging(r * n);
      off = 0;
      terms.forEach((t, j) => {
        down.set(t.module.factors.down!.data, off * n);
        off += ranks[j]!;
      });
      this.write(c.down, down);
      if (c.uids !== '') this.stats.factorWrites++;
      c.uids = uids;
    }
    const scales = terms.map((t) => `${t.coefficient * moduleScale(t.module)}|${t.module.rank}`).join(',');
    if (c.scaleKey !== scales) {
      const scale = this.staging(r);
      let off = 0;
      terms.forEach((t, j) => {
        scale.fill(t.coefficient * moduleScale(t.module), off, off + t.module.rank);
        off += ranks[j]!;
      });
      this.write(c.scale, scale);
      this.stats.scaleWrites++;
      c.scaleKey = scales;
    }
    return c;
  }
}

/**
 * GPU copies of the factor arrays of non-plain terms (DoRA, LoHa, LoKr, Tucker, full, norm, LoRA
 * with a bias), which go through `mergeModule`: each array is uploaded once and rewritten in place
 * when its term's uid changed (a hotswap into the same arrays), so a slider move or a per-step
 * schedule uploads nothing but the per-call coefficient scales.
 */
export class FactorUploads implements PersistentUploads {
  private readonly cache = new Map<Float32Array, { buffer: GPUBuffer; uid: number }>();
  readonly stats = { buffersCreated: 0, rewrites: 0 };

  constructor(private readonly device: GPUDevice) {}

  buffer(data: Float32Array, uid: number, label: string): GPUBuffer {
    const c = this.cache.get(data);
    if (c && c.uid === uid) return c.buffer;
    if (c) {
      this.device.queue.writeBuffer(c.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
      c.uid = uid;
      this.stats.rewrites++;
      return c.buffer;
    }
    this.stats.buffersCreated++;
    const buffer = createStorageBuffer(this.device, { label: `${label}:kept`, data });
    this.cache.set(data, { buffer, uid });
    return buffer;
  }

  /** Destroys the copies of arrays `keep` rejects. */
  prune(keep: (data: Float32Array) => boolean): void {
    for (const [data, c] of this.cache) {
      if (keep(data)) continue;
      c.buffer.destroy();
      this.cache.delete(data);
    }
  }

  get size(): number {
    return this.cache.size;
  }

  destroy(): void {
    this.prune(() => false);
  }
}
