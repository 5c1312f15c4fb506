/**
 * The adapter manager's API on the CPU path (tiny-sd15 weights from the fixtures, a recording
 * sink instead of networks): names and lists, weights and the call-time scale, dirty tracking,
 * block dicts, prefix loads, and atomicity (a failing call leaves adapters, weights and what the
 * sinks hold exactly as before). Expected weights come from merge-cpu's `applyAdapters` (the CPU
 * oracle, tested against the fixtures' deltas elsewhere) with coefficients computed here by hand.
 */
import { describe, expect, it } from 'vitest';
import { type AdapterModule, moduleId } from '../../src/core/lora/adapter.ts';
import { applyAdapters } from '../../src/core/lora/merge-cpu.ts';
import { createMergeBackend } from '../../src/core/lora/merge-fast/create-backend.ts';
import { pickWeightName } from '../../src/core/pipeline/adapters/lora-source.ts';
import type { AdapterManager } from '../../src/core/pipeline/adapters.ts';
import { isLorafuseError } from '../../src/errors.ts';
import { fileBase, LORA, manager, maxAbs, peftLora, sameArray } from './adapters-helpers.ts';

/** Every module id the manager holds weights for, with its effective weight. */
function snapshot(m: AdapterManager, ids: string[]) {
  return ids.map((id) => {
    const [component, ...rest] = id.split('.');
    return m.effectiveWeight(component as 'unet', rest.join('.'));
  });
}

async function expectError(p: Promise<unknown> | (() => unknown), code: string, message?: RegExp) {
  let caught: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    caught = e;
  }
  expect(isLorafuseError(caught), String(caught)).toBe(true);
  const err = caught as { code: string; message: string };
  expect(err.code).toBe(code);
  if (message) expect(err.message).toMatch(message);
}

/** The modules an adapter file converts to (through a throwaway manager). */
async function modulesOf(src: (typeof LORA)[keyof typeof LORA]): Promise<string[]> {
  const { m } = manager();
  await m.loadLoraWeights(src);
  const out: string[] = [];
  for (const [c, names] of Object.entries(m.getListAdapters())) if (names.length > 0) out.push(c);
  return out;
}

describe('names, lists, active adapters', () => {
  it('defaults names like Diffusers and lists adapters per component', async () => {
    const { m } = manager();
    expect(await m.loadLoraWeights(LORA.trainscript)).toBe('default_0');
    expect(await m.loadLoraWeights(LORA.rank2)).toBe('default_1');
    expect(m.getListAdapters()).toEqual({ unet: ['default_0', 'default_1'], text_encoder: ['default_0'] });
    expect(m.getActiveAdapters()).toEqual(['default_0', 'default_1']);
    await m.deleteAdapters('default_0');
    expect(await m.loadLoraWeights(LORA.kohya)).toBe('default_2');
    expect(m.getListAdapters()).toEqual({ unet: ['default_1', 'default_2'], text_encoder: ['default_2'] });
  });

  it('prefix loads one component only', async () => {
    const { m } = manager();
    await m.loadLoraWeights(LORA.kohya, { adapterName: 'te', prefix: 'text_encoder' });
    expect(m.getListAdapters()).toEqual({ text_encoder: ['te'] });
    await expectError(
      m.loadLoraWeights(LORA.rank2, { prefix: 'text_encoder' }),
      'lora-invalid',
      /no LoRA modules/,
    );
    expect(await modulesOf(LORA.kohya)).toEqual(['unet', 'text_encoder']);
  });

  it('setAdapters activates exactly the listed adapters', async () => {
    const { m } = manager();
    await m.loadLoraWeights(LORA.trainscript, { adapterName: 'a' });
    await m.loadLoraWeights(LORA.kohya, { adapterName: 'b' });
    await m.setAdapters(['b']);
    expect(m.getActiveAdapters()).toEqual(['b']);
    await m.setAdapters(['a', 'b'], [0.5, { unet: 0.2 }]);
    expect(m.getActiveAdapters()).toEqual(['a', 'b']);
  });

  it('picks a repo weight file like Diffusers, refusing guesses and pickles', () => {
    expect(pickWeightName(['README.md', 'pytorch_lora_weights.safetensors', 'x.safetensors'], 'r')).toBe(
      'pytorch_lora_weights.safetensors',
    );
    expect(pickWeightName(['a/b.safetensors', 'only.safetensors'], 'r')).toBe('only.safetensors');
    expect(() => pickWeightName(['a.safetensors', 'b.safetensors'], 'r')).toThrow(/several safetensors/);
    expect(() => pickWeightName(['model.ckpt'], 'r')).toThrow(/pickle/);
  });
});

describe('effective weights', () => {
  it('W = W0 + sum c_i dW_i with c = weight * scale, per component', async () => {
    const { m, base } = manager();
    await m.loadLoraWeights(LORA.trainscript, { adapterName: 'a' });
    await m.loadLoraWeights(LORA.kohya, { adapterName: 'b' });
    await m.setAdapters(['a', 'b'], [{ unet: 0.7, text_encoder: 0.25 }, 0.8]);
    await m.setScale(0.5);
    const probe = modulesFromFiles();
    for (const [component, module] of [
      ['unet', 'mid_block.attentions.0.transformer_blocks.0.attn1.to_q'],
      ['unet', 'down_blocks.0.attentions.0.proj_in'],
      ['text_encoder', 'text_model.encoder.layers.1.self_attn.v_proj'],
    ] as const) {
      const terms = [];
      const a = (await probe).a.get(`${component}.${module}`);
      const b = (await probe).b.get(`${component}.${module}`);
      if (a) terms.push({ module: a, coefficient: (component === 'unet' ? 0.7 : 0.25) * 0.5 });
      if (b) terms.push({ module: b, coefficient: 0.8 * 0.5 });
      expect(terms.length).toBeGreaterThan(0);
      const want = applyAdapters(base.read(component, module), terms).weight.data;
      const got = m.effectiveWeight(component, module)!.weight.data;
      // Same oracle, same term order: the manager must reproduce it exactly.
      expect(sameArray(got, want)).toBe(true);
    }
  });

  it('scale 0 and disableLora give the base bit-exactly and keep the weights', async () => {
    const { m, sink, base } = manager();
    await m.loadLoraWeights(LORA.dora, { adapterName: 'd' });
    await m.loadLoraWeights(LORA.kohya, { adapterName: 'k' });
    await m.setAdapters(['d', 'k'], [0.5, 0.3]);
    const ids = [...sink.last.keys()];
    const live = snapshot(m, ids);
    const baseOf = (id: string) => {
      const [c, ...rest] = id.split('.');
      return base.read(c as 'unet', rest.join('.')).weight.data;
    };
    await m.setScale(0);
    for (const id of ids) expect(sameArray(sink.last.get(id)!.weight.data, baseOf(id))).toBe(true);
    await m.setScale(1);
    expect(snapshot(m, ids).every((w, i) => sameArray(w!.weight.data, live[i]!.weight.data))).toBe(true);
    await m.disableLora();
    for (const id of ids) expect(sameArray(sink.last.get(id)!.weight.data, baseOf(id))).toBe(true);
    await m.enableLora();
    expect(snapshot(m, ids).every((w, i) => sameArray(w!.weight.data, live[i]!.weight.data))).toBe(true);
    expect(m.getActiveAdapters()).toEqual(['d', 'k']);
  });

  it('weight 0 takes an adapter out of the mix, DoRA included (no rescale by the magnitude)', async () => {
    const { m, base } = manager();
    await m.loadLoraWeights(LORA.dora, { adapterName: 'd' });
    await m.setAdapters('d', 0);
    const id = 'mid_block.attentions.0.transformer_blocks.0.attn1.to_q';
    expect(sameArray(m.effectiveWeight('unet', id)!.weight.data, base.read('unet', id).weight.data)).toBe(
      true,
    );
  });

  it('dirty tracking: only modules whose coefficients changed are recomputed', async () => {
    const { m, sink } = manager();
    await m.loadLoraWeights(LORA.trainscript, { adapterName: 'a' }); // 32 unet + 8 te modules
    expect(m.stats.recomputes).toBe(40);
    const count = (): [number, number] => [m.stats.recomputes, sink.count];
    let [r, w] = count();
    await m.setAdapters('a', 1);
    expect(count()).toEqual([r, w]);
    await m.setAdapters('a', { text_encoder: 0.5 });
    expect(m.stats.recomputes - r).toBe(8);
    [r, w] = count();
    await m.setScale(0.5);
    expect(m.stats.recomputes - r).toBe(40);
    [r, w] = count();
    await m.setScale(0.5);
    expect(count()).toEqual([r, w]);
    await m.setScale(0);
    expect(m.stats.recomputes - r).toBe(0);
    expect(sink.count - w).toBe(40);
    await m.setScale(1);
    await m.loadLoraWeights(LORA.kohya, { adapterName: 'b' }); // 48 unet + 12 te modules, a superset
    [r, w] = count();
    await m.setAdapters(['a', 'b'], [{ text_encoder: 0.5 }, 0.9]);
    expect(m.stats.recomputes - r).toBe(60);
    [r, w] = count();
    await m.setAdapters(
      ['a', 'b'],
      [
        { text_encoder: 0.5, unet: 1 },
        { unet: 0.9, text_encoder: 0.9 },
      ],
    );
    expect(count()).toEqual([r, w]);
  });

  it('block dicts weight resnets and samplers by the attention with the same index', async () => {
    const { m, base } = manager();
    await m.loadLoraWeights(LORA.locon, { adapterName: 'l' });
    const mods = (await modulesFromFiles()).locon;
    await m.setAdapters('l', { unet: { down: { block_0: 0.3 }, mid: 0.6, up: { block_1: [0.5, 1.2] } } });
    const expectWeight = (module: string, c: number) => {
      const mod = mods.get(`unet.${module}`)!;
      expect(mod, module).toBeDefined();
      const want = applyAdapters(base.read('unet', module), [{ module: mod, coefficient: c }]).weight.data;
      expect(sameArray(m.effectiveWeight('unet', module)!.weight.data, want), module).toBe(true);
    };
    expectWeight('down_blocks.0.resnets.0.conv1', 0.3);
    expectWeight('down_blocks.0.downsamplers.0.conv', 0.3);
    expectWeight('down_blocks.1.resnets.0.conv_shortcut', 1);
    expectWeight('mid_block.resnets.1.conv2', 1);
    expectWeight('up_blocks.0.upsamplers.0.conv', 1);
    expectWeight('up_blocks.1.resnets.0.time_emb_proj', 0.5);
    expectWeight('up_blocks.1.resnets.1.conv1', 1.2);
    expectWeight('down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_k', 0.3);
  });
});

/** The converted modules of a few fixture LoRAs, by id (through the manager's own conversion path). */
async function modulesFromFiles(): Promise<Record<'a' | 'b' | 'locon', Map<string, AdapterModule>>> {
  const { readLoraSource } = await import('../../src/core/pipeline/adapters/lora-source.ts');
  const { readSafetensors } = await import('../../src/core/io/safetensors.ts');
  const { convertLora } = await import('../../src/core/lora/convert.ts');
  const { target, FIX } = await import('./adapters-helpers.ts');
  const { LocalFolderSource } = await import('../../src/core/io/model-source.ts');
  const { join } = await import('node:path');
  const t = target('tiny-sd15');
  const read = async (src: (typeof LORA)[keyof typeof LORA]) => {
    const { name, bytes } = await readLoraSource(src, (repo) => new LocalFolderSource(join(FIX, repo)));
    const f = readSafetensors(bytes, name);
    const a = convertLora({ source: name, tensors: f, metadata: f.header.metadata }, t);
    return new Map(a.modules.map((mod) => [moduleId(mod), mod]));
  };
  return { a: await read(LORA.trainscript), b: await read(LORA.kohya), locon: await read(LORA.locon) };
}

describe('atomicity: a failing call changes nothing', () => {
  async function loaded() {
    const env = manager();
    await env.m.loadLoraWeights(LORA.trainscript, { adapterName: 'a' });
    await env.m.loadLoraWeights(LORA.kohya, { adapterName: 'b' });
    await env.m.setAdapters(['a', 'b'], [0.7, 0.4]);
    const ids = [...env.sink.last.keys()];
    const state = () => ({
      list: env.m.getListAdapters(),
      active: env.m.getActiveAdapters(),
      fused: env.m.getFusedAdapters(),
      scale: env.m.getScale(),
      writes: env.sink.count,
      recomputes: env.m.stats.recomputes,
      weights: snapshot(env.m, ids),
    });
    return { ...env, state };
  }

  function expectSame(before: ReturnType<Awaited<ReturnType<typeof loaded>>['state']>, after: typeof before) {
    const { weights: wb, ...rb } = before;
    const { weights: wa, ...ra } = after;
    expect(ra).toEqual(rb);
    // the very same arrays: nothing was recomputed or replaced
    expect(wa.every((w, i) => w === wb[i])).toBe(true);
  }

  it('a LoRA for another base (SDXL kohya into SD1.5)', async () => {
    const env = await loaded();
    const before = env.state();
    await expectError(env.m.loadLoraWeights(LORA.sdxlKohya, { adapterName: 'x' }), 'lora-unmapped-keys');
    expectSame(before, env.state());
  });

  it('a name already taken, a missing repo file, a pickle', async () => {
    const env = await loaded();
    const before = env.state();
    await expectError(
      env.m.loadLoraWeights(LORA.rank2, { adapterName: 'a' }),
      'invalid-argument',
      /already loaded/,
    );
    await expectError(
      env.m.loadLoraWeights({ repo: 'loras/sd15-rank2', weightName: 'nope.safetensors' }),
      'hub-not-found',
    );
    await expectError(env.m.loadLoraWeights({ bytes: new Uint8Array(8), name: 'x.ckpt' }), 'pickle-refused');
    await expectError(
      env.m.loadLoraWeights({ bytes: new Uint8Array(8), name: 'x.safetensors' }),
      'safetensors-invalid',
    );
    expectSame(before, env.state());
  });

  it('bad setAdapters calls', async () => {
    const env = await loaded();
    const before = env.state();
    await expectError(() => env.m.setAdapters(['a', 'zz']), 'invalid-argument', /no adapter named 'zz'/);
    await expectError(() => env.m.setAdapters(['a', 'b'], [1]), 'invalid-argument', /one weight per adapter/);
    await expectError(() => env.m.setAdapters(['a', 'a']), 'invalid-argument', /twice/);
    await expectError(
      () => env.m.setAdapters('a', { text_encoder: { down: 1 } } as never),
      'invalid-argument',
      /unet only/,
    );
    await expectError(() => env.m.setAdapters('a', { down: 1 } as never), 'invalid-argument', /under 'unet'/);
    await expectError(() => env.m.setAdapters('a', Number.NaN), 'invalid-argument', /finite/);
    await expectError(
      () => env.m.setAdapters('a', { unet: { up: { block_0: 1 } } }),
      'invalid-argument',
      /no attention/,
    );
    await expectError(() => env.m.deleteAdapters(['a', 'nope']), 'invalid-argument', /nope/);
    await expectError(() => env.m.fuseLora({ adapterNames: ['nope'] }), 'invalid-argument', /nope/);
    expectSame(before, env.state());
  });

  it('weights that overflow float32 are refused with lora-nonfinite naming the module', async () => {
    const env = await loaded();
    const before = env.state();
    await expectError(
      () => env.m.setAdapters(['a', 'b'], [1e300, 1]),
      'lora-nonfinite',
      /module (unet|text_encoder)\./,
    );
    await expectError(
      () => env.m.fuseLora({ loraScale: 1e300, safeFusing: true }),
      'lora-nonfinite',
      /module (unet|text_encoder)\./,
    );
    expectSame(before, env.state());
  });

  it('the same refusals on the fast CPU merge backend (its finiteness bound falls back to a scan)', async () => {
    const backend = await createMergeBackend({ kind: 'wasm-simd', threads: 1 });
    try {
      const env = manager('tiny-sd15', backend);
      await env.m.loadLoraWeights(LORA.trainscript, { adapterName: 'a' });
      await env.m.loadLoraWeights(LORA.dora, { adapterName: 'd' });
      const ids = [...env.sink.last.keys()];
      const before = snapshot(env.m, ids);
      await expectError(
        () => env.m.setAdapters(['a', 'd'], [1e300, 1]),
        'lora-nonfinite',
        /module (unet|text_encoder)\./,
      );
      await expectError(
        () => env.m.fuseLora({ loraScale: 1e300 }),
        'lora-nonfinite',
        /module (unet|text_encoder)\./,
      );
      expect(snapshot(env.m, ids).every((w, i) => w === before[i])).toBe(true);
      expect(env.m.getFusedAdapters()).toEqual({});
    } finally {
      await backend.dispose();
    }
  });

  it('a block dict on an adapter that touches conv_in is an invalid-argument (Diffusers: IndexError)', async () => {
    const { m } = manager();
    const lora = peftLora({
      'unet.conv_in': { down: [2, 4, 3, 3], up: [32, 2, 1, 1] },
      'unet.down_blocks.0.attentions.0.proj_in': { down: [2, 32, 1, 1], up: [32, 2, 1, 1] },
    });
    await m.loadLoraWeights(lora, { adapterName: 'c' });
    const w = m.effectiveWeight('unet', 'conv_in');
    await expectError(() => m.setAdapters('c', { unet: { down: 0.5 } }), 'invalid-argument', /conv_in/);
    expect(m.effectiveWeight('unet', 'conv_in')).toBe(w);
    await m.setAdapters('c', { unet: 0.5 });
    expect(maxAbs(m.effectiveWeight('unet', 'conv_in')!.weight.data, w!.weight.data)).toBeGreaterThan(0);
  });

  it('hotswap errors', async () => {
    const env = await loaded();
    const before = env.state();
    await expectError(
      env.m.loadLoraWeights(LORA.rank2, { adapterName: 'zz', hotswap: true }),
      'invalid-argument',
      /no such adapter/,
    );
    await expectError(
      env.m.loadLoraWeights(LORA.rank2, { hotswap: true }),
      'invalid-argument',
      /adapterName/,
    );
    // kohya touches proj_in/proj_out and MLPs that the trainscript adapter 'a' does not
    await expectError(
      env.m.loadLoraWeights(LORA.kohya, { adapterName: 'a', hotswap: true }),
      'invalid-argument',
      /touches \d+ module\(s\) the first adapter does not: .*proj_in/,
    );
    await expectError(
      () => env.m.enableLoraHotswap({ targetRank: 8 }),
      'invalid-argument',
      /before the first adapter/,
    );
    expectSame(before, env.state());
  });

  it('reads each module base once, and only for touched modules', async () => {
    const { m, base } = manager();
    await m.loadLoraWeights(LORA.trainscript, { adapterName: 'a' });
    expect(base.reads).toBe(40);
    await m.loadLoraWeights(LORA.rank2, { adapterName: 'b' }); // same 32 unet modules
    expect(base.reads).toBe(40);
    expect(fileBase('tiny-sd15').reads).toBe(0);
  });
});
