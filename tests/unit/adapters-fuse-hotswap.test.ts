/**
 * fuseLora / unfuseLora / unloadLoraWeights and hotswap on the CPU path (tiny-sd15 fixtures):
 * - fuse folds the current mix into the base, unfuse restores the stored pre-fuse base bit-exactly
 *   (1,000 cycles: no drift), the fixtures README rules 1-2 (adapter live again at its weight after
 *   unfuse; a fused and a live adapter both apply);
 * - hotswap with a target rank replaces factors in place: 100 swaps allocate no factor array, and
 *   the result is bit-identical to loading the swapped-in file alone.
 */
import { describe, expect, it } from 'vitest';
import type { Component } from '../../src/core/lora/adapter.ts';
import type { AdapterManager } from '../../src/core/pipeline/adapters.ts';
import { LORA, manager, maxAbs, type RecordingSink, sameArray } from './adapters-helpers.ts';

function ids(m: AdapterManager): [Component, string][] {
  const out: [Component, string][] = [];
  for (const c of ['unet', 'text_encoder'] as const) {
    for (const id of moduleIdsOf(m, c)) out.push([c, id]);
  }
  return out;
}

const held = new WeakMap<AdapterManager, RecordingSink>();
function moduleIdsOf(m: AdapterManager, c: Component): string[] {
  const sink = held.get(m)!;
  return [...sink.last.keys()].filter((k) => k.startsWith(`${c}.`)).map((k) => k.slice(c.length + 1));
}

async function twoAdapters() {
  const env = manager();
  held.set(env.m, env.sink);
  await env.m.loadLoraWeights(LORA.trainscript, { adapterName: 'a' });
  await env.m.loadLoraWeights(LORA.kohya, { adapterName: 'b' });
  await env.m.setAdapters(['a', 'b'], [0.7, { unet: 0.8, text_encoder: 0.3 }]);
  return env;
}

// effectiveWeight() arrays are double-buffered (valid until the second change after): copy to keep.
describe('fuse / unfuse', () => {
  it('1,000 fuse/unfuse cycles leave every base weight bit-identical', async () => {
    const { m, base } = await twoAdapters();
    const all = ids(m);
    expect(all.length).toBe(60);
    const effective = all.map(([c, p]) => m.effectiveWeight(c, p)!.weight.data.slice());
    // Live adapters off during the cycles, so each cycle costs one merge per module (the fuse):
    // the fused adapters are the active ones whether or not the live mix is enabled.
    await m.disableLora();
    for (let i = 0; i < 1000; i++) {
      await m.fuseLora({ loraScale: 0.9 - (i % 7) * 0.1 });
      if (i === 0) expect(m.getFusedAdapters()).toEqual({ unet: ['a', 'b'], text_encoder: ['a', 'b'] });
      await m.unfuseLora();
    }
    await m.enableLora();
    for (const [i, [c, p]] of all.entries()) {
      const orig = base.read(c, p);
      const now = await m.fusedWeight(c, p);
      expect(sameArray(now.weight.data, orig.weight.data), `${c}.${p}`).toBe(true);
      expect(sameArray(m.effectiveWeight(c, p)!.weight.data, effective[i]!), `${c}.${p}`).toBe(true);
    }
    expect(m.getFusedAdapters()).toEqual({});
  }, 180_000);

  it('fused == live; fused base = W0 + weight * loraScale * dW; unfuse makes the adapter live at its weight (rule 1)', async () => {
    const { m, base } = await twoAdapters();
    const p = 'mid_block.attentions.0.transformer_blocks.0.attn1.to_q';
    await m.setAdapters('a', 1);
    const live1 = m.effectiveWeight('unet', p)!.weight.data.slice();
    await m.setAdapters('a', 0.7);
    const live07 = m.effectiveWeight('unet', p)!.weight.data.slice();
    await m.setAdapters('a', 1);
    await m.fuseLora({ loraScale: 0.7 });
    expect(m.getFusedAdapters()).toEqual({ unet: ['a'], text_encoder: ['a'] });
    const fused = (await m.fusedWeight('unet', p)).weight.data;
    expect(maxAbs(fused, live07)).toBeLessThan(1e-6);
    expect(maxAbs(fused, base.read('unet', p).weight.data)).toBeGreaterThan(1e-3);
    // nothing live on top of the fused adapter: the effective weight is the fused base itself
    expect(sameArray(m.effectiveWeight('unet', p)!.weight.data, fused)).toBe(true);
    await m.unfuseLora({ components: ['unet'] });
    expect(m.getFusedAdapters()).toEqual({ text_encoder: ['a'] });
    expect(sameArray(m.effectiveWeight('unet', p)!.weight.data, live1)).toBe(true);
  });

  it('a fused adapter and a live one both apply (rule 2); after unfuse only the live one', async () => {
    const { m } = await twoAdapters();
    const p = 'down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_v';
    const both = m.effectiveWeight('unet', p)!.weight.data.slice();
    await m.setAdapters('b', { unet: 0.8, text_encoder: 0.3 });
    const onlyB = m.effectiveWeight('unet', p)!.weight.data.slice();
    await m.setAdapters(['a', 'b'], [0.7, { unet: 0.8, text_encoder: 0.3 }]);
    await m.fuseLora({ adapterNames: ['a'], components: ['unet'] });
    // rounding order differs (fused first, then live): float32 ulps only
    expect(maxAbs(m.effectiveWeight('unet', p)!.weight.data, both)).toBeLessThan(1e-6);
    await m.setAdapters(['b'], [{ unet: 0.8, text_encoder: 0.3 }]);
    expect(maxAbs(m.effectiveWeight('unet', p)!.weight.data, both)).toBeLessThan(1e-6);
    await m.unfuseLora();
    expect(sameArray(m.effectiveWeight('unet', p)!.weight.data, onlyB)).toBe(true);
  });

  it('scale and disable do not touch what is fused', async () => {
    const { m } = await twoAdapters();
    const p = 'down_blocks.0.attentions.0.proj_in';
    await m.fuseLora({ adapterNames: ['b'] });
    const fused = (await m.fusedWeight('unet', p)).weight.data;
    await m.setScale(0);
    expect(m.effectiveWeight('unet', p)!.weight.data).toBe(fused);
    await m.setScale(1);
    await m.disableLora();
    expect(m.effectiveWeight('unet', p)!.weight.data).toBe(fused);
  });

  it('unload keeps what is fused in the base and forgets the rest', async () => {
    const { m, base, sink } = await twoAdapters();
    const fusedP = 'down_blocks.0.attentions.0.proj_in'; // only 'b' touches it
    const liveP = 'mid_block.attentions.0.transformer_blocks.0.attn1.to_k';
    await m.fuseLora({ adapterNames: ['b'], components: ['unet'] });
    const fused = (await m.fusedWeight('unet', fusedP)).weight.data;
    await m.unloadLoraWeights();
    expect(m.getListAdapters()).toEqual({});
    expect(m.getActiveAdapters()).toEqual([]);
    expect(sink.last.get(`unet.${fusedP}`)!.weight.data).toBe(fused);
    expect(
      sameArray(
        sink.last.get(`text_encoder.text_model.encoder.layers.0.mlp.fc1`)!.weight.data,
        base.read('text_encoder', 'text_model.encoder.layers.0.mlp.fc1').weight.data,
      ),
    ).toBe(true);
    // 'b' is baked into to_k: the fused base, not the original
    expect(
      maxAbs(sink.last.get(`unet.${liveP}`)!.weight.data, base.read('unet', liveP).weight.data),
    ).toBeGreaterThan(1e-4);
    await m.unfuseLora(); // nothing left to unfuse
    expect((await m.fusedWeight('unet', fusedP)).weight.data).toBe(fused);
  });
});

describe('hotswap', () => {
  it('100 swaps with targetRank allocate no factor array and equal a fresh load', async () => {
    const { m, sink } = manager();
    await m.enableLoraHotswap({ targetRank: 8 });
    await m.loadLoraWeights(LORA.rank8, { adapterName: 'x' });
    const allocations = m.stats.factorAllocations;
    expect(allocations).toBe(64); // 32 modules x (down, up)
    for (let i = 0; i < 100; i++) {
      await m.loadLoraWeights(i % 2 === 0 ? LORA.rank2 : LORA.rank8, { adapterName: 'x', hotswap: true });
    }
    expect(m.stats.factorAllocations).toBe(allocations);
    expect(m.getListAdapters()).toEqual({ unet: ['x'] });
    // last swap was rank8 (i = 99); once more to rank2 and compare with rank2 loaded alone
    await m.loadLoraWeights(LORA.rank2, { adapterName: 'x', hotswap: true });
    const fresh = manager();
    await fresh.m.loadLoraWeights(LORA.rank2, { adapterName: 'x' });
    // recompute from the (padded) store buffers too, not only from the converted file
    await m.setScale(0.5);
    await fresh.m.setScale(0.5);
    for (const [id, w] of fresh.sink.last) {
      expect(sameArray(sink.last.get(id)!.weight.data, w.weight.data), id).toBe(true);
    }
  });

  it('a subset swaps in; modules it does not touch are out of the mix; text encoders too', async () => {
    const { m, sink } = manager();
    await m.loadLoraWeights(LORA.kohya, { adapterName: 'x' });
    await m.setAdapters('x', 0.6);
    await m.loadLoraWeights(LORA.trainscript, { adapterName: 'x', hotswap: true });
    expect(m.getActiveAdapters()).toEqual(['x']);
    const fresh = manager();
    await fresh.m.loadLoraWeights(LORA.trainscript, { adapterName: 'x' });
    await fresh.m.setAdapters('x', 0.6);
    let compared = 0;
    for (const [id, w] of sink.last) {
      const want = fresh.sink.last.get(id)?.weight.data;
      const [c, ...rest] = id.split('.');
      const baseW = (await fresh.m.fusedWeight(c as Component, rest.join('.'))).weight.data;
      expect(sameArray(w.weight.data, want ?? baseW), id).toBe(true);
      compared++;
    }
    expect(compared).toBe(60);
    expect([...sink.last.keys()].some((k) => k.startsWith('text_encoder.'))).toBe(true);
  });

  it('refuses a rank above the target rank, and hotswapping a fused adapter', async () => {
    const { m } = manager();
    await m.enableLoraHotswap({ targetRank: 2 });
    await expect(m.loadLoraWeights(LORA.rank8, { adapterName: 'x' })).rejects.toThrow(
      /above the hotswap target rank 2/,
    );
    expect(m.getListAdapters()).toEqual({});
    await m.loadLoraWeights(LORA.rank2, { adapterName: 'x' });
    await expect(m.loadLoraWeights(LORA.rank8, { adapterName: 'x', hotswap: true })).rejects.toThrow(
      /target rank/,
    );
    await m.fuseLora();
    await expect(m.loadLoraWeights(LORA.rank2, { adapterName: 'x', hotswap: true })).rejects.toThrow(
      /unfuseLora before/,
    );
  });
});
