/**
 * The weight store's effective buffers (adapters/weight-store.ts): a re-merge (a slider, a
 * per-step schedule) writes into the module's spare buffer, never into the array the networks run
 * nor into a base array, and allocates nothing after the second change; a refused change (NaN/Inf)
 * leaves the published array as it was. Expected values: merge-cpu's `applyAdapters` (the oracle)
 * on the PEFT fixture's factors; tolerance 2e-6 max abs as in adapters-merge-terms.test.ts (one
 * float32 rounding of a small-rank dot product, coefficient folded into U vs scaled after).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalFolderSource } from '../../src/core/io/model-source.ts';
import { readSafetensors } from '../../src/core/io/safetensors.ts';
import { type AdapterModule, moduleId } from '../../src/core/lora/adapter.ts';
import { convertLora } from '../../src/core/lora/convert.ts';
import { applyAdapters, type BaseParams } from '../../src/core/lora/merge-cpu.ts';
import { createMergeBackend } from '../../src/core/lora/merge-fast/create-backend.ts';
import type { MergeBackend } from '../../src/core/lora/merge-fast/merge-backend.ts';
import { readLoraSource } from '../../src/core/pipeline/adapters/lora-source.ts';
import { storeId, WeightStore } from '../../src/core/pipeline/adapters/weight-store.ts';
import { FIX, fileBase, LORA, maxAbs, sameArray, target } from './adapters-helpers.ts';

let backend: MergeBackend;
beforeAll(async () => {
  backend = await createMergeBackend({ kind: 'wasm-simd', threads: 1 });
});
afterAll(async () => {
  await backend.dispose();
});

async function firstLoraModule(): Promise<AdapterModule> {
  const { name, bytes } = await readLoraSource(LORA.peft, (repo) => new LocalFolderSource(join(FIX, repo)));
  const f = readSafetensors(bytes, name);
  const a = convertLora({ source: name, tensors: f, metadata: f.header.metadata }, target('tiny-sd15'));
  const m = a.modules.find((x) => x.kind === 'lora' && x.component === 'unet' && !x.dora);
  if (!m) throw new Error('the PEFT fixture has no plain unet LoRA module');
  return m;
}

describe('effective weight buffers', () => {
  it('re-merges into the spare buffer, keeps the published one, and survives a refused change', async () => {
    const module = await firstLoraModule();
    const name = moduleId(module).split('.').slice(1).join('.');
    const base: BaseParams = fileBase('tiny-sd15').read('unet', name);
    const baseCopy = new Float32Array(base.weight.data);
    const id = storeId('unet', name);
    const store = new WeightStore(backend);
    const oracle = (c: number) => applyAdapters(base, [{ module, coefficient: c }]).weight.data;
    const set = async (c: number): Promise<Float32Array> => {
      const tx = store.begin();
      if (!tx.has(id)) tx.addModule('unet', name, base);
      tx.setTerms(id, c === 0 ? [] : [{ module, coefficient: c, uid: 1, source: 'peft' }]);
      await tx.compute();
      tx.commit();
      return store.get(id)!.effective.weight.data;
    };

    const a = await set(1);
    const b = await set(0.5);
    expect(b).not.toBe(a);
    expect(maxAbs(b, oracle(0.5))).toBeLessThan(2e-6);
    // The array published before stays as it was until the next change.
    expect(maxAbs(a, oracle(1))).toBeLessThan(2e-6);
    const c = await set(0.25);
    expect(c).toBe(a);
    expect(maxAbs(c, oracle(0.25))).toBeLessThan(2e-6);
    expect(maxAbs(b, oracle(0.5))).toBeLessThan(2e-6);

    await expect(set(Number.POSITIVE_INFINITY)).rejects.toMatchObject({ code: 'lora-nonfinite' });
    expect(store.get(id)!.effective.weight.data).toBe(c);
    expect(maxAbs(c, oracle(0.25))).toBeLessThan(2e-6);

    const d = await set(0.75);
    expect(d === a || d === b).toBe(true);
    expect(maxAbs(d, oracle(0.75))).toBeLessThan(2e-6);

    // No live terms: the networks run the base array itself; the next merge never writes it.
    expect(await set(0)).toBe(base.weight.data);
    const e = await set(-0.5);
    expect(e === a || e === b).toBe(true);
    expect(maxAbs(e, oracle(-0.5))).toBeLessThan(2e-6);
    expect(sameArray(base.weight.data, baseCopy)).toBe(true);
    // 1, 0.5, 0.25, 0.75, -0.5 (the refused change and the empty one merge nothing).
    expect(store.stats.recomputes).toBe(5);
  });

  it('a factor rewritten in place under a new uid (hotswap) is checked again: a NaN is refused', async () => {
    const original = await firstLoraModule();
    const up = { ...original.factors.up!, data: new Float32Array(original.factors.up!.data) };
    const module: AdapterModule = { ...original, factors: { ...original.factors, up } };
    const name = moduleId(module).split('.').slice(1).join('.');
    const base = fileBase('tiny-sd15').read('unet', name);
    const id = storeId('unet', name);
    const store = new WeightStore(backend);
    const set = async (c: number, uid: number): Promise<void> => {
      const tx = store.begin();
      if (!tx.has(id)) tx.addModule('unet', name, base);
      tx.setTerms(id, [{ module, coefficient: c, uid, source: 'peft' }]);
      await tx.compute();
      tx.commit();
    };
    await set(0.5, 1);
    const before = new Float32Array(store.get(id)!.effective.weight.data);
    up.data[0] = Number.NaN;
    await expect(set(0.5, 2)).rejects.toMatchObject({ code: 'lora-nonfinite' });
    expect(sameArray(store.get(id)!.effective.weight.data, before)).toBe(true);
  });
});
