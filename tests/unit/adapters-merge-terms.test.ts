/**
 * The manager's batched merge (adapters/merge-terms.ts) on the CPU merge backends against
 * merge-cpu's `applyAdapters` (the oracle): plain LoRA terms concatenated along the rank axis
 * with their coefficients folded in, DoRA / conv LoCon terms added from `deltaWeight`, several
 * adapters on one module. Tolerance 2e-6 max abs: one float32 rounding of a rank <= 16 dot
 * product of values below 1, versus the oracle's product-then-scale rounding. Target-rank
 * (hotswap) buffers must give bit-identical results to the file's own factors.
 *
 * The delta cache (merge-fast/delta-cache.ts): a merge's result must be the same bits whether its
 * deltas were just computed, come from the cache, or the backend has no cache at all (so fusing
 * after a per-step schedule gives what a fresh fuse gives), and a hotswap (same module object,
 * factors rewritten in place, new uid) must not reuse the old delta.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalFolderSource } from '../../src/core/io/model-source.ts';
import { readSafetensors } from '../../src/core/io/safetensors.ts';
import { type AdapterModule, moduleId } from '../../src/core/lora/adapter.ts';
import { convertLora } from '../../src/core/lora/convert.ts';
import { applyAdapters } from '../../src/core/lora/merge-cpu.ts';
import { createMergeBackend } from '../../src/core/lora/merge-fast/create-backend.ts';
import type { MergeBackend } from '../../src/core/lora/merge-fast/merge-backend.ts';
import { padModule } from '../../src/core/pipeline/adapters/hotswap.ts';
import { readLoraSource } from '../../src/core/pipeline/adapters/lora-source.ts';
import { mergeModules } from '../../src/core/pipeline/adapters/merge-terms.ts';
import { FIX, fileBase, LORA, maxAbs, sameArray, target } from './adapters-helpers.ts';

async function modules(src: (typeof LORA)[keyof typeof LORA]): Promise<Map<string, AdapterModule>> {
  const { name, bytes } = await readLoraSource(src, (repo) => new LocalFolderSource(join(FIX, repo)));
  const f = readSafetensors(bytes, name);
  const a = convertLora({ source: name, tensors: f, metadata: f.header.metadata }, target('tiny-sd15'));
  return new Map(a.modules.map((m) => [moduleId(m), m]));
}

const backends: Record<string, MergeBackend> = {};
beforeAll(async () => {
  backends.scalar = await createMergeBackend({ kind: 'scalar' });
  backends['wasm-simd'] = await createMergeBackend({ kind: 'wasm-simd', threads: 1 });
  backends.uncached = await createMergeBackend({ kind: 'wasm-simd', threads: 1, deltaCacheBytes: 0 });
});
afterAll(async () => {
  for (const b of Object.values(backends)) await b.dispose();
});

describe('mergeModules vs applyAdapters', () => {
  for (const kind of ['scalar', 'wasm-simd']) {
    it(`${kind}: mixed kinds and several adapters per module`, async () => {
      const base = fileBase('tiny-sd15');
      const [locon, dora, peft, kohya] = await Promise.all([
        modules(LORA.locon),
        modules(LORA.dora),
        modules(LORA.peft),
        modules(LORA.kohya),
      ]);
      const requests = [];
      for (const id of new Set([...locon.keys(), ...dora.keys(), ...peft.keys()])) {
        const [c, ...rest] = id.split('.');
        const terms = [
          [locon.get(id), 0.7],
          [dora.get(id), 0.5],
          [peft.get(id), -1.3],
          [kohya.get(id), 0.25],
        ]
          .filter((t): t is [AdapterModule, number] => t[0] !== undefined)
          .map(([module, coefficient]) => ({ module, coefficient }));
        requests.push({ base: base.read(c as 'unet', rest.join('.')), terms, label: id });
      }
      expect(requests.some((r) => r.terms.length >= 3)).toBe(true);
      expect(requests.some((r) => r.terms.some((t) => t.module.dora))).toBe(true);
      const got = await mergeModules(requests, backends[kind]!);
      requests.forEach((r, i) => {
        const want = applyAdapters(r.base, r.terms);
        expect(maxAbs(got[i]!.params.weight.data, want.weight.data), r.label).toBeLessThanOrEqual(2e-6);
        expect(got[i]!.params.weight.shape).toEqual(r.base.weight.shape);
        // only modules without DoRA terms can be proven finite by the bound
        expect(got[i]!.provablyFinite).toBe(!r.terms.some((t) => t.module.dora || t.module.kind !== 'lora'));
      });
    });

    it(`${kind}: target-rank buffers give bit-identical weights`, async () => {
      const base = fileBase('tiny-sd15');
      const rank2 = await modules(LORA.rank2);
      const requests = [...rank2].map(([id, m]) => {
        const [c, ...rest] = id.split('.');
        return { base: base.read(c as 'unet', rest.join('.')), m, label: id };
      });
      const plain = await mergeModules(
        requests.map((r) => ({ base: r.base, terms: [{ module: r.m, coefficient: 0.8 }], label: r.label })),
        backends[kind]!,
      );
      const padded = await mergeModules(
        requests.map((r) => ({
          base: r.base,
          terms: [{ module: padModule(r.m, 8, (n) => new Float32Array(n))!, coefficient: 0.8 }],
          label: r.label,
        })),
        backends[kind]!,
      );
      plain.forEach((p, i) => {
        expect(sameArray(p.params.weight.data, padded[i]!.params.weight.data), requests[i]!.label).toBe(true);
      });
    });
  }
});

describe('mergeModules with the delta cache', () => {
  function mixedRequests(adapters: readonly Map<string, AdapterModule>[], coefficients: readonly number[]) {
    const base = fileBase('tiny-sd15');
    const ids = new Set(adapters.flatMap((a) => [...a.keys()]));
    return [...ids].map((id) => {
      const [c, ...rest] = id.split('.');
      const terms = adapters
        .map((a, k) => [a.get(id), k] as const)
        .filter((t): t is [AdapterModule, number] => t[0] !== undefined)
        .map(([module, k]) => ({ module, coefficient: coefficients[k]!, uid: 100 + k }));
      return { base: base.read(c as 'unet', rest.join('.')), terms, label: id };
    });
  }

  it('cold cache, warm cache and no cache give bit-identical weights', async () => {
    const cached = backends['wasm-simd']!;
    expect(cached.deltaCache).toBeDefined();
    expect(backends.uncached!.deltaCache).toBeUndefined();
    cached.deltaCache!.clear();
    const adapters = await Promise.all([modules(LORA.peft), modules(LORA.kohya), modules(LORA.locon)]);
    const mixes = [
      [0.9, 0.4, -0.7],
      [0.8, 0.4, -0.7],
      [0.1, -1.2, 0.3],
    ];
    for (const mix of mixes) {
      const requests = mixedRequests(adapters, mix);
      expect(requests.some((r) => r.terms.length >= 2)).toBe(true);
      const hitsBefore = cached.deltaCache!.stats.hits;
      const fromCache = await mergeModules(requests, cached);
      const plain = await mergeModules(requests, backends.uncached!);
      // the first mix only notes the deltas, the second keeps them, the third hits them
      if (mix === mixes[1]) expect(cached.deltaCache!.size).toBeGreaterThan(0);
      if (mix === mixes[2]) expect(cached.deltaCache!.stats.hits).toBeGreaterThan(hitsBefore);
      requests.forEach((r, i) => {
        expect(
          sameArray(fromCache[i]!.params.weight.data, plain[i]!.params.weight.data),
          `${r.label} at ${mix}`,
        ).toBe(true);
        const want = applyAdapters(r.base, r.terms);
        expect(maxAbs(fromCache[i]!.params.weight.data, want.weight.data), r.label).toBeLessThanOrEqual(2e-6);
      });
    }
    expect(cached.deltaCache!.bytes).toBeLessThanOrEqual(cached.deltaCache!.budgetBytes);
  });

  it('a hotswap (factors rewritten in place, new uid) does not reuse the old delta', async () => {
    const cached = backends['wasm-simd']!;
    const base = fileBase('tiny-sd15');
    const [a, b] = await Promise.all([modules(LORA.rank8), modules(LORA.rank8)]);
    // b: a's shapes with other values (a in-memory "other adapter" of the same target rank)
    for (const m of b.values()) {
      m.factors.up!.data.forEach((v, i, arr) => {
        arr[i] = -v * 0.5 + 1e-3 * (i % 5);
      });
    }
    const requests = (mods: Map<string, AdapterModule>, uid: number) =>
      [...a.keys()].map((id) => {
        const [c, ...rest] = id.split('.');
        return {
          base: base.read(c as 'unet', rest.join('.')),
          terms: [{ module: mods.get(id)!, coefficient: 0.6, uid }],
          label: id,
        };
      });
    const size = cached.deltaCache!.size;
    await mergeModules(requests(a, 1), cached); // notes a's deltas
    await mergeModules(requests(a, 1), cached); // keeps them (second merge of the same data)
    expect(cached.deltaCache!.size).toBeGreaterThan(size);
    for (const [id, m] of a) {
      m.factors.up!.data.set(b.get(id)!.factors.up!.data);
      m.factors.down!.data.set(b.get(id)!.factors.down!.data);
    }
    const swapped = await mergeModules(requests(a, 2), cached);
    const fresh = await mergeModules(requests(b, 7), backends.uncached!);
    swapped.forEach((s, i) => {
      expect(sameArray(s.params.weight.data, fresh[i]!.params.weight.data), requests(a, 2)[i]!.label).toBe(
        true,
      );
    });
  });
});
