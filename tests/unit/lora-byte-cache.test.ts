/** The engine's LoRA bytes cache: a Map by file name, bounded by bytes, LRU, in-use entries kept. */
import { describe, expect, it } from 'vitest';
import type { GenerationEngineDeps } from '../../src/core/engine/generation-engine.ts';
import { DEFAULT_LORA_BYTES_BUDGET, LoraByteCache } from '../../src/core/engine/lora-byte-cache.ts';

const bytes = (n: number) => new Uint8Array(n);

describe('LoraByteCache', () => {
  it('stands where the engine used a Map: get/set/has/delete, iterable, a Map', () => {
    const cache = new LoraByteCache();
    // What generation-engine.ts takes: `new LoraByteCache()` can replace engine.ts's `new Map()`.
    const asMap: GenerationEngineDeps['loraBytes'] = cache;
    const a = bytes(3);
    expect(cache.set('a.safetensors', a)).toBe(cache);
    expect(asMap.get('a.safetensors')).toBe(a);
    expect(asMap.has('a.safetensors')).toBe(true);
    expect(asMap.get('b.safetensors')).toBeUndefined();
    expect([...asMap.keys()]).toEqual(['a.safetensors']);
    expect(cache.delete('a.safetensors')).toBe(true);
    expect(cache.delete('a.safetensors')).toBe(false);
    expect(cache.size).toBe(0);
    expect(cache.totalBytes).toBe(0);
    expect(cache.budget).toBe(DEFAULT_LORA_BYTES_BUDGET);
    expect(DEFAULT_LORA_BYTES_BUDGET).toBe(2 ** 31);
  });

  it('over the budget, drops the least recently used first; get counts as use, has does not', () => {
    const cache = new LoraByteCache(100);
    cache.set('a', bytes(40));
    cache.set('b', bytes(40));
    cache.get('a'); // a is now more recent than b
    cache.has('b');
    cache.set('c', bytes(40)); // 120 > 100: b goes
    expect([...cache.keys()].sort()).toEqual(['a', 'c']);
    expect(cache.totalBytes).toBe(80);
    cache.set('d', bytes(50)); // 130: a (older than c) goes, then 90 fits
    expect([...cache.keys()].sort()).toEqual(['c', 'd']);
    expect(cache.totalBytes).toBe(90);
  });

  it('replacing a key counts its bytes once', () => {
    const cache = new LoraByteCache(100);
    cache.set('a', bytes(60));
    cache.set('a', bytes(70));
    expect(cache.totalBytes).toBe(70);
    expect(cache.size).toBe(1);
  });

  it('never drops an entry in use, nor the one just set (even alone over the budget)', () => {
    const cache = new LoraByteCache(100);
    cache.set('pinned', bytes(60));
    cache.markInUse('pinned');
    cache.set('old', bytes(30));
    cache.set('big', bytes(150)); // over budget whatever happens: old goes, pinned and big stay
    expect([...cache.keys()].sort()).toEqual(['big', 'pinned']);
    expect(cache.totalBytes).toBe(210);
    // Unmarking lets it go at once when over budget (big is newer, pinned is the LRU).
    cache.markInUse('pinned', false);
    expect([...cache.keys()]).toEqual(['big']);
    expect(cache.totalBytes).toBe(150);
  });

  it('a mark made before the bytes arrive holds; delete clears the mark', () => {
    const cache = new LoraByteCache(50);
    cache.markInUse('x');
    cache.set('x', bytes(40));
    cache.set('y', bytes(40)); // 80 > 50, x is in use: y (just set) stays too
    expect(cache.size).toBe(2);
    cache.delete('x');
    expect(cache.isInUse('x')).toBe(false);
    cache.set('x', bytes(40)); // no mark now: y (older) goes
    expect([...cache.keys()]).toEqual(['x']);
  });

  it('getOrInsert and getOrInsertComputed go through the same accounting', () => {
    const cache = new LoraByteCache(100);
    const a = bytes(60);
    expect(cache.getOrInsert('a', a)).toBe(a);
    expect(cache.getOrInsert('a', bytes(1))).toBe(a);
    expect(cache.getOrInsertComputed('b', () => bytes(60)).byteLength).toBe(60);
    expect([...cache.keys()]).toEqual(['b']);
    expect(cache.totalBytes).toBe(60);
  });

  it('refuses a budget that is not a byte count', () => {
    expect(() => new LoraByteCache(-1)).toThrow(/budget/);
    expect(() => new LoraByteCache(Number.NaN)).toThrow(/budget/);
  });
});
