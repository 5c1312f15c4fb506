/**
 * The adapter manager on the fast CPU merge backend with its delta cache (merge-fast/
 * delta-cache.ts), against the same backend without a cache (`deltaCacheBytes: 0`):
 * - a per-step schedule hits the cache (coefficient-only changes) and every step's effective
 *   weights are the same bits as the cache-less manager's at that step's weight;
 * - fusing after a schedule (cache warm) gives the same bits as a fresh fuse (cache-less), and
 *   fuse/unfuse cycles on a warm cache restore the base bit-exactly and fuse identically each time;
 * - hotswaps with a target rank (factors rewritten in place under a new uid) never reuse a stale
 *   delta: the result equals the swapped-in file loaded alone.
 * Equality is bit-for-bit (`sameArray`): the cache must change only the time a merge takes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMergeBackend } from '../../src/core/lora/merge-fast/create-backend.ts';
import type { MergeBackend } from '../../src/core/lora/merge-fast/merge-backend.ts';
import { LORA, manager, type RecordingSink, sameArray } from './adapters-helpers.ts';

let cached: MergeBackend;
let plain: MergeBackend;
beforeAll(async () => {
  cached = await createMergeBackend({ kind: 'wasm-simd', threads: 1 });
  plain = await createMergeBackend({ kind: 'wasm-simd', threads: 1, deltaCacheBytes: 0 });
});
afterAll(async () => {
  await cached.dispose();
  await plain.dispose();
});

function expectSameSinks(got: RecordingSink, want: RecordingSink, what: string): void {
  expect(got.last.size).toBe(want.last.size);
  for (const [id, w] of want.last) {
    expect(sameArray(got.last.get(id)!.weight.data, w.weight.data), `${what}: ${id}`).toBe(true);
  }
}

async function twoAdapters(merge: MergeBackend) {
  const env = manager('tiny-sd15', merge);
  await env.m.loadLoraWeights(LORA.trainscript, { adapterName: 'a' });
  await env.m.loadLoraWeights(LORA.kohya, { adapterName: 'b' });
  return env;
}

describe('delta cache in the adapter manager', () => {
  it('a per-step schedule hits the cache and gives the cache-less weights at every step', async () => {
    expect(cached.deltaCache).toBeDefined();
    expect(plain.deltaCache).toBeUndefined();
    const warm = await twoAdapters(cached);
    const cold = await twoAdapters(plain);
    const hits = cached.deltaCache!.stats.hits;
    for (const w of [1.5, 1.1, 0.7, 0.7, 0.2, 0]) {
      await warm.m.setAdapters(['a', 'b'], [w, 0.8]);
      await cold.m.setAdapters(['a', 'b'], [w, 0.8]);
      expectSameSinks(warm.sink, cold.sink, `step weight ${w}`);
    }
    expect(cached.deltaCache!.stats.hits).toBeGreaterThan(hits);
  });

  it('fusing after a schedule equals a fresh fuse; fuse/unfuse cycles stay bit-exact', async () => {
    const warm = await twoAdapters(cached);
    for (const w of [1.5, 1.0, 0.5]) await warm.m.setAdapters(['a', 'b'], [w, 0.8]);
    await warm.m.fuseLora({ loraScale: 0.9 });
    const cold = await twoAdapters(plain);
    await cold.m.setAdapters(['a', 'b'], [0.5, 0.8]);
    await cold.m.fuseLora({ loraScale: 0.9 });
    expectSameSinks(warm.sink, cold.sink, 'fused after a schedule');
    const ids = [...cold.sink.last.keys()].map((k) => {
      const [c, ...rest] = k.split('.');
      return [c as 'unet' | 'text_encoder', rest.join('.')] as const;
    });
    const fused = await Promise.all(ids.map(([c, p]) => cold.m.fusedWeight(c, p)));
    for (let i = 0; i < 20; i++) {
      await warm.m.unfuseLora();
      await warm.m.setAdapters(['a', 'b'], [0.3 + 0.1 * (i % 3), 0.8]);
      for (const [c, p] of ids) {
        expect(
          sameArray((await warm.m.fusedWeight(c, p)).weight.data, warm.base.read(c, p).weight.data),
        ).toBe(true);
      }
      await warm.m.setAdapters(['a', 'b'], [0.5, 0.8]);
      await warm.m.fuseLora({ loraScale: 0.9 });
      for (const [k, [c, p]] of ids.entries()) {
        expect(
          sameArray((await warm.m.fusedWeight(c, p)).weight.data, fused[k]!.weight.data),
          `${c}.${p}`,
        ).toBe(true);
      }
    }
  });

  it('hotswaps with a target rank never reuse a stale delta', async () => {
    const warm = manager('tiny-sd15', cached);
    await warm.m.enableLoraHotswap({ targetRank: 8 });
    await warm.m.loadLoraWeights(LORA.rank8, { adapterName: 'x' });
    for (let i = 0; i < 6; i++) {
      const lora = i % 2 === 0 ? LORA.rank2 : LORA.rank8;
      await warm.m.loadLoraWeights(lora, { adapterName: 'x', hotswap: true });
      await warm.m.setScale(0.7);
      await warm.m.setScale(0.4);
      const fresh = manager('tiny-sd15', plain);
      await fresh.m.loadLoraWeights(lora, { adapterName: 'x' });
      await fresh.m.setScale(0.4);
      expectSameSinks(warm.sink, fresh.sink, `swap ${i}`);
    }
  });
});
