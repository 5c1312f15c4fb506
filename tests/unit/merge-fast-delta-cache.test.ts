/**
 * The delta cache (merge-fast/delta-cache.ts) and its arithmetic:
 * - combine-deltas.ts (JS) against an independent float64 sum `W0 + Σ c_i dW_i` rounded once:
 *   within 3 float32 ulps of max(|W0|, Σ|c_i dW_i|) (each of the <= 2·terms float32 operations
 *   rounds by half an ulp of a partial sum bounded by that; 3 terms here);
 * - the wasm axpy kernel gives the SAME BITS as combine-deltas.ts (1, 2 and 3 terms, odd lengths,
 *   magnitudes from 1e-30 to 1e30, zero and negative coefficients): the merge's result must not
 *   depend on whether a delta came from the cache (the fuse determinism of merge-terms.ts);
 * - a scaled merge (MergeJob.scale, scalar and wasm-simd with 1 and 2 threads) gives the bits of
 *   combining that backend's own delta (the same product on W0 = 0) with the coefficient, and a
 *   scale of 1 the bits of the plain merge;
 * - admission (a delta is kept from its second merge on), keys (owner + uid/scale/rank/shape),
 *   the budget, LRU eviction that spares the current call's
 *   deltas, shrinking the budget, clear, and the reuse of freed memory.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { combineDeltas } from '../../src/core/lora/merge-fast/combine-deltas.ts';
import { createMergeBackend } from '../../src/core/lora/merge-fast/create-backend.ts';
import { DeltaCache, type DeltaKey } from '../../src/core/lora/merge-fast/delta-cache.ts';
import type { MergeBackend, MergeShape } from '../../src/core/lora/merge-fast/merge-backend.ts';
import { rng } from './lora-math-helpers.ts';

/** Values spread over many binades (sign random), so rounding differences would show. */
function wide(n: number, next: () => number, lo = -30, hi = 30): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (next() < 0.5 ? -1 : 1) * 10 ** (lo + (hi - lo) * next()) * next();
  return a;
}

function uniform(n: number, next: () => number): Float32Array {
  return Float32Array.from({ length: n }, () => next() * 2 - 1);
}

function bitsEqual(a: Float32Array, b: Float32Array): number {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

/** The mechanics tests store on first use; the admission test below uses the default. */
const first = { keepOnFirstUse: true };

const key = (owner: object, n: number, uid = 1, extra: Partial<DeltaKey> = {}): DeltaKey => ({
  owner,
  uid,
  scale: 0.5,
  rank: 4,
  out: 1,
  in: n,
  ...extra,
});

describe('combineDeltas (JS)', () => {
  it('matches a float64 sum within 3 ulps of the operands', () => {
    const next = rng(11);
    const n = 1001;
    const w0 = uniform(n, next);
    const ds = [0, 1, 2].map(() => uniform(n, next).map((v) => v * 0.01));
    const cs = [0.7, -1.3, 0.25];
    for (const count of [1, 2, 3]) {
      const out = new Float32Array(n);
      combineDeltas(
        out,
        w0,
        ds.slice(0, count).map((delta, i) => ({ delta, coefficient: cs[i]! })),
      );
      for (let i = 0; i < n; i++) {
        let sum = 0;
        let mag = Math.abs(w0[i]!);
        for (let t = 0; t < count; t++) {
          sum += cs[t]! * ds[t]![i]!;
          mag = Math.max(mag, Math.abs(cs[t]! * ds[t]![i]!));
        }
        const ulp = 2 ** (Math.floor(Math.log2(Math.max(mag, Math.abs(w0[i]! + sum)))) - 23);
        expect(Math.abs(out[i]! - (w0[i]! + sum)), `element ${i}, ${count} terms`).toBeLessThanOrEqual(
          3 * ulp,
        );
      }
    }
  });

  it('no terms copies W0; a zero coefficient gives W0 (up to the sign of zero)', () => {
    const w0 = Float32Array.of(1, -2, 3.5, 0);
    const out = new Float32Array(4);
    combineDeltas(out, w0, []);
    expect([...out]).toEqual([...w0]);
    combineDeltas(out, w0, [{ delta: Float32Array.of(5, 6, 7, 8), coefficient: 0 }]);
    expect([...out]).toEqual([1, -2, 3.5, 0]);
  });
});

describe('DeltaCache', () => {
  it('its wasm combine gives the same bits as combineDeltas (1-3 terms, odd lengths, wide range)', async () => {
    // W0 resident (room to spare) and copied in (a budget that only fits the three deltas)
    for (const resident of [true, false]) {
      await sameBits(resident);
    }
  });

  async function sameBits(resident: boolean): Promise<void> {
    const sizes = [1, 3, 4, 7, 13, 1000, 4099];
    const cache = await DeltaCache.create(1 << 24, first);
    try {
      const next = rng(7);
      for (const n of sizes) {
        const w0 = wide(n, next);
        const deltas = [0, 1, 2].map(() => wide(n, next, -30, 5));
        const owners = deltas.map(() => ({}));
        cache.clear();
        if (!resident) cache.setBudget(3 * ((n * 4 + 15) & ~15)); // the deltas, 16-byte aligned
        cache.begin();
        const entries = deltas.map((d, i) => cache.store(key(owners[i]!, n), d)!);
        expect(entries.every((e) => e !== null)).toBe(true);
        for (const cs of [[0.3], [1], [0], [-1.7, 0.1], [0.9, -0.35, 1e-3], [0, 0, 2.5]]) {
          const got = new Float32Array(n).fill(Number.NaN);
          cache.combine(
            got,
            w0,
            cs.map((coefficient, i) => ({ delta: entries[i]!, coefficient })),
          );
          const want = new Float32Array(n);
          combineDeltas(
            want,
            w0,
            cs.map((coefficient, i) => ({ delta: deltas[i]!, coefficient })),
          );
          expect(bitsEqual(got, want), `n ${n}, coefficients ${cs}`).toBe(-1);
          // a mix of cached and plain deltas takes the JS path: the same bits again
          if (cs.length > 1) {
            const mixed = new Float32Array(n);
            cache.combine(
              mixed,
              w0,
              cs.map((coefficient, i) => ({ delta: i === 0 ? deltas[0]! : entries[i]!, coefficient })),
            );
            expect(bitsEqual(mixed, want), `mixed, n ${n}`).toBe(-1);
          }
        }
        expect(cache.bases, `n ${n}`).toBe(resident ? 1 : 0);
      }
    } finally {
      cache.dispose();
    }
  }

  it('admission: a delta is kept once a later merge call looks the same data up again', async () => {
    const cache = await DeltaCache.create(1 << 20);
    const owner = {};
    const d = new Float32Array(10).fill(2);
    cache.begin();
    expect(cache.lookup(key(owner, 10))).toBeNull();
    expect(cache.store(key(owner, 10), d)).toBeNull(); // first use: not kept
    expect(cache.stats.deferred).toBe(1);
    cache.begin();
    expect(cache.lookup(key(owner, 10))).toBeNull();
    expect(cache.store(key(owner, 10), d)).not.toBeNull(); // second use: kept
    cache.begin();
    expect(cache.lookup(key(owner, 10))).not.toBeNull();
    // new data (a hotswap's uid) start over
    cache.begin();
    expect(cache.lookup(key(owner, 10, 2))).toBeNull();
    expect(cache.store(key(owner, 10, 2), d)).toBeNull();
    expect(cache.size).toBe(0);
    cache.dispose();
  });

  it('keys: a hit needs the same owner, uid, scale, rank and shape; a stale entry is dropped', async () => {
    const cache = await DeltaCache.create(1 << 20, first);
    const owner = {};
    const d = Float32Array.from({ length: 10 }, (_, i) => i);
    cache.begin();
    expect(cache.lookup(key(owner, 10))).toBeNull();
    const e = cache.store(key(owner, 10), d);
    expect(e).not.toBeNull();
    expect(cache.lookup(key(owner, 10))).toBe(e);
    expect(cache.lookup(key({}, 10))).toBeNull();
    expect(cache.lookup(key(owner, 10, 1, { scale: 0.25 }))).toBeNull(); // drops it
    expect(cache.lookup(key(owner, 10))).toBeNull();
    expect(cache.size).toBe(0);
    cache.store(key(owner, 10), d);
    expect(cache.lookup(key(owner, 10, 2))).toBeNull(); // a hotswap's new uid
    expect(cache.lookup(key(owner, 10, 1, { rank: 8 }))).toBeNull();
    expect(cache.bytes).toBe(0);
    expect(cache.stats.hits).toBe(1);
    cache.dispose();
  });

  it('stays within its budget; evicts least recently used deltas, never those of the current call', async () => {
    const n = 256; // 1 KiB each
    const cache = await DeltaCache.create(3 * 1024, first);
    const owners = [{}, {}, {}, {}, {}];
    const d = new Float32Array(n).fill(1);
    cache.begin();
    for (const o of owners.slice(0, 3)) expect(cache.store(key(o, n), d)).not.toBeNull();
    // full, and all three belong to this call: a fourth is refused, nothing evicted
    expect(cache.store(key(owners[3]!, n), d)).toBeNull();
    expect(cache.size).toBe(3);
    expect(cache.stats.refused).toBe(1);
    cache.begin();
    cache.lookup(key(owners[0]!, n)); // used in this call: spared
    expect(cache.store(key(owners[3]!, n), d)).not.toBeNull(); // evicts owners[1] (oldest unused)
    expect(cache.lookup(key(owners[1]!, n))).toBeNull();
    expect(cache.lookup(key(owners[0]!, n))).not.toBeNull();
    expect(cache.lookup(key(owners[2]!, n))).not.toBeNull();
    expect(cache.bytes).toBeLessThanOrEqual(3 * 1024);
    // bigger than the whole budget: refused
    expect(cache.store(key(owners[4]!, 4 * n), new Float32Array(4 * n))).toBeNull();
    cache.setBudget(1024);
    expect(cache.size).toBe(1);
    expect(cache.bytes).toBe(1024);
    cache.clear();
    expect(cache.size).toBe(0);
    expect(cache.bytes).toBe(0);
    cache.dispose();
  });

  it('reuses freed memory: storing after clear does not grow it', async () => {
    const cache = await DeltaCache.create(64 << 20, first);
    const d = new Float32Array(1 << 18).fill(0.5); // 1 MiB
    const owners = Array.from({ length: 8 }, () => ({}));
    const grown = () => (cache as unknown as { memory: WebAssembly.Memory }).memory.buffer.byteLength;
    cache.begin();
    for (const o of owners) cache.store(key(o, d.length), d);
    const out = new Float32Array(d.length);
    cache.combine(out, d, [{ delta: cache.lookup(key(owners[0]!, d.length))!, coefficient: 2 }]);
    expect(out[5]).toBe(1.5);
    const size = grown();
    for (let round = 0; round < 5; round++) {
      cache.clear();
      cache.begin();
      for (const o of owners.slice().reverse()) cache.store(key(o, d.length), d);
      cache.combine(out, d, [{ delta: cache.lookup(key(owners[3]!, d.length))!, coefficient: 2 }]);
    }
    expect(grown()).toBe(size);
    cache.dispose();
  });
});

describe('scaled merge (MergeJob.scale)', () => {
  const backends: Record<string, MergeBackend> = {};
  beforeAll(async () => {
    backends.scalar = await createMergeBackend({ kind: 'scalar' });
    backends['wasm-simd 1 thread'] = await createMergeBackend({ kind: 'wasm-simd', threads: 1 });
    backends['wasm-simd 2 threads'] = await createMergeBackend({ kind: 'wasm-simd', threads: 2 });
  });
  afterAll(async () => {
    for (const b of Object.values(backends)) await b.dispose();
  });
  const shapes: MergeShape[] = [
    { out: 1, in: 1, rank: 1 },
    { out: 7, in: 13, rank: 3 },
    { out: 320, in: 768, rank: 64 },
    { out: 37, in: 45, rank: 6 },
  ];
  for (const name of ['scalar', 'wasm-simd 1 thread', 'wasm-simd 2 threads']) {
    it(`${name}: W0 + c·(U·D) has the bits of combining the backend's own U·D`, async () => {
      const b = backends[name]!;
      expect(b.scaledMerge).toBe(true);
      const next = rng(5);
      for (const shape of shapes) {
        const len = shape.out * shape.in;
        const w0 = uniform(len, next);
        const u = uniform(shape.out * shape.rank, next);
        const d = uniform(shape.rank * shape.in, next);
        const dw = new Float32Array(len);
        await b.mergeMany([{ w0: dw, out: dw, u, d, shape }]);
        for (const c of [0.7, -1.3, 0, 1]) {
          const got = new Float32Array(len);
          await b.mergeMany([{ w0, out: got, u, d, shape, scale: c }]);
          const want = new Float32Array(len);
          combineDeltas(want, w0, [{ delta: dw, coefficient: c }]);
          expect(bitsEqual(got, want), `${shape.out}x${shape.in} rank ${shape.rank}, c ${c}`).toBe(-1);
        }
        if (name !== 'scalar') {
          // wasm: scale 1 is the plain merge, bit for bit
          const plain = new Float32Array(len);
          const one = new Float32Array(len);
          await b.mergeMany([{ w0, out: plain, u, d, shape }]);
          await b.mergeMany([{ w0, out: one, u, d, shape, scale: 1 }]);
          expect(bitsEqual(plain, one)).toBe(-1);
        }
      }
    });
  }
});
