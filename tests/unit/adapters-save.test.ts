/**
 * The adapter manager's output side: `saveLoraAdapter` (PEFT and kohya keys), `addWeightedAdapter`
 * (PEFT's add_weighted_adapter; the new adapter saved and reloaded) and `exportFusedWeights`.
 * Oracles: Diffusers' per-module deltas (tests/fixtures/deltas, W_fused - W_base at weight 1),
 * PEFT's TIES result of the `tiny-sd15_peft_add_weighted_adapter_same_rank` case, PEFT's refusal
 * in the `_mixed_rank` case, and the fixture models' own weight files.
 * Tolerances: a saved file holds the loaded factors and alphas as they were, so its reload gives
 * bit-identical deltas and effective weights (0; a PEFT DoRA saved with kohya keys: 1e-5 x max
 * |delta| at weight 1, the LyCORIS formula rounds in another order); Diffusers' deltas within 1e-5 x their max |value|
 * (float32 products in another order, as lora-write-roundtrip.test.ts); a fused base within 1e-5
 * of base + Diffusers' delta (one float32 rounding of the sum apart; the smallest LoRA effect is
 * ~4e-2); an unfused export equals the model files bit for bit.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalFolderSource } from '../../src/core/io/model-source.ts';
import { readSafetensors, type SafetensorsFile } from '../../src/core/io/safetensors.ts';
import { COMPONENTS, type Component, type F32Tensor } from '../../src/core/lora/adapter.ts';
import { loraTarget } from '../../src/core/lora/target.ts';
import { sessionBaseSource, sessionSink } from '../../src/core/pipeline/adapters/session-sink.ts';
import { AdapterManager } from '../../src/core/pipeline/adapters.ts';
import { loadModel } from '../../src/core/pipeline/model.ts';
import { isLorafuseError } from '../../src/errors.ts';
import { FIX as FIX_ABS, fileBase, LORA, manager, target } from './adapters-helpers.ts';
import { base, convertBytes, deltas, diff, FIX, loadDeltas } from './lora-fixture-helpers.ts';

type Model = 'tiny-sd15' | 'tiny-sdxl';

const LORAS = JSON.parse(readFileSync(`${FIX}/loras/index.json`, 'utf8')) as Record<
  string,
  { file: string; model: string }
>;

function modelFile(model: Model, component: Component): SafetensorsFile {
  const name = component === 'unet' ? 'diffusion_pytorch_model.safetensors' : 'model.safetensors';
  const path = join(FIX_ABS, 'models', model, component, name);
  return readSafetensors(new Uint8Array(readFileSync(path)), path);
}

/** A manager whose base can list each component's state dict (the model's weight files). */
function exportingManager(model: Model): AdapterManager {
  const files = new Map<Component, SafetensorsFile>();
  const t = target(model);
  const file = (c: Component) => {
    let f = files.get(c);
    if (!f) {
      f = modelFile(model, c);
      files.set(c, f);
    }
    return f;
  };
  return new AdapterManager({
    target: t,
    base: {
      read: fileBase(model).read,
      stateDict: (c) => {
        if (!t.components[c]) return undefined;
        const f = file(c);
        return new Map(f.names().map((n) => [n, { shape: [...f.info(n).shape], data: f.float32(n) }]));
      },
    },
    openRepo: (repo) => new LocalFolderSource(join(FIX_ABS, repo)),
  });
}

async function rejection(p: Promise<unknown> | (() => unknown)): Promise<unknown> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    return e;
  }
  return undefined;
}

function codeOf(e: unknown): string | undefined {
  return isLorafuseError(e) ? e.code : undefined;
}

describe('saveLoraAdapter reloads to the same deltas', () => {
  for (const [name, entry] of Object.entries(LORAS)) {
    const model = entry.model.replace('models/', '') as Model;
    for (const format of ['peft', 'kohya'] as const) {
      it(`${name} -> ${format}`, async () => {
        const b = await base(entry.model);
        const { m } = manager(model);
        const bytes = new Uint8Array(readFileSync(`${FIX}/${entry.file}`));
        await m.loadLoraWeights({ bytes, name: entry.file }, { adapterName: 'x' });
        const saved = m.saveLoraAdapter('x', { format });
        const keys = readSafetensors(saved, 'saved').names();
        expect(
          keys.every((k) => (format === 'kohya' ? k.startsWith('lora_') : /^(unet|text_encoder)/.test(k))),
        ).toBe(true);
        const back = convertBytes(saved, `${name}.${format}`, b);
        const loaded = m.getAdapter('x');
        // The file holds the loaded factors and alphas: identical deltas. A PEFT DoRA magnitude
        // written as kohya dora_scale turns into the LyCORIS formula (LORA-FORMATS 3.5): equal at
        // weight 1 up to float32 rounding in another order, different away from it.
        const styleChange = format === 'kohya' && loaded.modules.some((x) => x.dora?.style === 'peft');
        for (const w of styleChange ? [1] : [1, 0.37]) {
          const d = diff(await deltas(back, b, w), await deltas(loaded, b, w));
          expect(d.keys[0]).toEqual(d.keys[1]);
          expect(d.err).toBeLessThanOrEqual(styleChange ? 1e-5 * d.ref : 0);
        }
        const ref = diff(await deltas(back, b), loadDeltas(`deltas/${name}.safetensors`));
        expect(ref.err).toBeLessThanOrEqual(1e-5 * ref.ref);
      });
    }
  }

  it('an adapter in hotswap buffers is saved at its own rank', async () => {
    const b = await base('models/tiny-sd15');
    const { m } = manager();
    await m.enableLoraHotswap({ targetRank: 8 });
    await m.loadLoraWeights(LORA.rank2, { adapterName: 'x' });
    const back = convertBytes(m.saveLoraAdapter('x'), 'rank2.peft', b);
    expect(new Set(back.modules.map((x) => x.factors.down!.shape[0]))).toEqual(new Set([2]));
    const ref = diff(await deltas(back, b), loadDeltas('deltas/sd15-rank2.safetensors'));
    expect(ref.err).toBeLessThanOrEqual(1e-5 * ref.ref);
  });

  it('refuses an unknown adapter and an unknown format', async () => {
    const { m } = manager();
    await m.loadLoraWeights(LORA.rank2, { adapterName: 'x' });
    expect(codeOf(await rejection(() => m.saveLoraAdapter('nope')))).toBe('invalid-argument');
    const e = await rejection(() => m.saveLoraAdapter('x', { format: 'ckpt' as 'peft' }));
    expect(codeOf(e)).toBe('invalid-argument');
    expect((e as Error).message).toContain("'ckpt'");
  });
});

/** tiny-sd15_peft_add_weighted_adapter_same_rank: its sources, TIES combo and stored outputs. */
function sameRankCase() {
  const dir = `${FIX}/cases`;
  const json = JSON.parse(readFileSync(`${dir}/tiny-sd15_peft_add_weighted_adapter_same_rank.json`, 'utf8'));
  const f = readSafetensors(new Uint8Array(readFileSync(`${dir}/${json.tensors_file}`)), json.tensors_file);
  const op = json.ops[0];
  const ties = op.combos.find((c: { name: string }) => c.name === 'ties');
  return { layer: op.layer_module as string, ties, stored: f };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function maxAbs(a: Float32Array): number {
  return a.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
}

describe('addWeightedAdapter', () => {
  it('TIES as PEFT made it; registered but not active; saved and reloaded gives the same effective weights', async () => {
    const { layer, ties, stored } = sameRankCase();
    const { m } = manager();
    await m.loadLoraWeights(LORA.trainscript, { adapterName: 's0' });
    await m.loadLoraWeights(LORA.kohya, { adapterName: 's1' });
    const name = await m.addWeightedAdapter({
      adapters: ['s0', 's1'],
      weights: ties.weights,
      adapterName: 'ties',
      combinationType: 'ties',
      density: ties.density,
      majoritySignMethod: ties.majority_sign_method,
    });
    expect(name).toBe('ties');
    expect(m.getActiveAdapters()).toEqual(['s0', 's1']);
    expect(m.getListAdapters().unet).toEqual(['s0', 's1', 'ties']);

    const merged = m.getAdapter('ties');
    const mod = merged.modules.find((x) => x.component === 'unet' && x.module === layer)!;
    expect(mod.alpha).toBe(mod.rank);
    const refB = stored.float32('outputs.ties.lora_B');
    const refA = stored.float32('outputs.ties.lora_A');
    expect(maxAbsDiff(mod.factors.down!.data, refA)).toBeLessThanOrEqual(1e-5 * maxAbs(refA));
    expect(maxAbsDiff(mod.factors.up!.data, refB)).toBeLessThanOrEqual(1e-5 * maxAbs(refB));

    await m.setAdapters('ties');
    const effective = new Map(
      merged.modules.map((x) => [`${x.component}.${x.module}`, m.effectiveWeight(x.component, x.module)!]),
    );
    for (const format of ['peft', 'kohya'] as const) {
      const { m: m2 } = manager();
      await m2.loadLoraWeights({
        bytes: m.saveLoraAdapter('ties', { format }),
        name: `ties-${format}.safetensors`,
      });
      expect(m2.getAdapter('default_0').modules.length).toBe(merged.modules.length);
      for (const [id, e] of effective) {
        const [component, ...rest] = id.split('.');
        const again = m2.effectiveWeight(component as Component, rest.join('.'));
        expect(again, `${format} ${id}`).toBeDefined();
        expect(maxAbsDiff(again!.weight.data, e.weight.data), `${format} ${id}`).toBe(0);
      }
    }
  });

  it('refuses what PEFT refused (linear on ranks 2 and 8) and a name in use, changing nothing', async () => {
    const mixed = JSON.parse(
      readFileSync(`${FIX}/cases/tiny-sd15_peft_add_weighted_adapter_mixed_rank.json`, 'utf8'),
    );
    expect(mixed.peft_results.linear_mixed_rank.error).toContain('same r value');
    const { m, sink } = manager();
    await m.loadLoraWeights(LORA.rank2, { adapterName: 's0' });
    await m.loadLoraWeights(LORA.rank8, { adapterName: 's1' });
    const writes = sink.count;
    const before = m.getListAdapters();
    const linear = await rejection(
      m.addWeightedAdapter({
        adapters: ['s0', 's1'],
        weights: [1, 0.5],
        adapterName: 'lin',
        combinationType: 'linear',
      }),
    );
    expect(codeOf(linear)).toBe('invalid-argument');
    expect((linear as Error).message).toMatch(/s0 \(rank 2\).*s1 \(rank 8\)/);
    const taken = await rejection(
      m.addWeightedAdapter({ adapters: ['s0'], weights: [1], adapterName: 's1', combinationType: 'linear' }),
    );
    expect(codeOf(taken)).toBe('invalid-argument');
    expect((taken as Error).message).toContain("'s1' already exists");
    const unknown = await rejection(
      m.addWeightedAdapter({ adapters: ['s0', 'zz'], weights: [1, 1], adapterName: 'n' }),
    );
    expect((unknown as Error).message).toContain("'zz'");
    const weights = await rejection(
      m.addWeightedAdapter({ adapters: ['s0', 's1'], weights: [1], adapterName: 'n' }),
    );
    expect(codeOf(weights)).toBe('invalid-argument');
    expect(m.getListAdapters()).toEqual(before);
    expect(sink.count).toBe(writes);
    // cat takes unequal ranks (PEFT: r = 2 + 8); the default type is svd (PEFT's default).
    await m.addWeightedAdapter({
      adapters: ['s0', 's1'],
      weights: [1, 0.5],
      adapterName: 'cat',
      combinationType: 'cat',
    });
    expect(m.getAdapter('cat').modules[0]!.rank).toBe(10);
    await m.addWeightedAdapter({ adapters: ['s0', 's1'], weights: [1, 0.5], adapterName: 'svd' });
    expect(m.getAdapter('svd').modules[0]!.rank).toBe(8);
  });

  it('refuses DoRA sources by name (PEFT would drop the magnitudes)', async () => {
    const { m } = manager();
    await m.loadLoraWeights(LORA.dora, { adapterName: 'd' });
    const e = await rejection(
      m.addWeightedAdapter({ adapters: ['d'], weights: [1], adapterName: 'n', combinationType: 'linear' }),
    );
    expect(codeOf(e)).toBe('not-implemented');
    expect((e as Error).message).toContain('DoRA');
    expect(m.getListAdapters().unet).toEqual(['d']);
  });
});

/** component -> key -> tensor of an exported file. */
function tensorsOf(bytes: Uint8Array): Map<string, F32Tensor> {
  const f = readSafetensors(bytes, 'export');
  expect(f.header.metadata?.format).toBe('pt');
  return new Map(f.names().map((n) => [n, { shape: [...f.info(n).shape], data: f.float32(n) }]));
}

function bitEqual(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.every((v, i) => v === y[i]);
}

/** Every tensor of `exported` equals the model file's, except `changed` keys (returned). */
function compareWithModel(model: Model, component: Component, exported: Uint8Array): string[] {
  const file = modelFile(model, component);
  const t = tensorsOf(exported);
  expect([...t.keys()].sort()).toEqual(file.names().sort());
  return [...t].filter(([k, v]) => !bitEqual(v.data, file.float32(k))).map(([k]) => k);
}

describe('exportFusedWeights', () => {
  for (const model of ['tiny-sd15', 'tiny-sdxl'] as const) {
    const lora = model === 'tiny-sd15' ? 'sd15-diffusers-trainscript' : 'sdxl-diffusers-trainscript';
    it(`${model}: live adapters are not included; fused = base + delta; unfused = the pristine base bit-exactly`, async () => {
      const m = exportingManager(model);
      await m.loadLoraWeights({ repo: `loras/${lora}` }, { adapterName: 'a' });
      const components = COMPONENTS.filter((c) => target(model).components[c]);
      const live = await m.exportFusedWeights();
      expect(Object.keys(live).sort()).toEqual([...components].sort());
      for (const c of components) expect(compareWithModel(model, c, live[c]!)).toEqual([]);

      await m.fuseLora({ loraScale: 0.5 });
      const fused = await m.exportFusedWeights();
      const reference = loadDeltas(`deltas/${lora}.safetensors`);
      for (const c of components) {
        const changed = compareWithModel(model, c, fused[c]!).sort();
        const expected = [...reference.keys()]
          .filter((k) => k.startsWith(`${c}.`))
          .map((k) => k.slice(c.length + 1));
        expect(changed).toEqual(expected.sort());
        const t = tensorsOf(fused[c]!);
        const file = modelFile(model, c);
        for (const key of expected) {
          const delta = reference.get(`${c}.${key}`)!.data;
          const w0 = file.float32(key);
          const want = Float32Array.from(w0, (x, i) => x + 0.5 * delta[i]!);
          expect(maxAbsDiff(t.get(key)!.data, want), key).toBeLessThanOrEqual(1e-5);
        }
      }

      await m.unfuseLora();
      const back = await m.exportFusedWeights({ components: ['unet'] });
      expect(Object.keys(back)).toEqual(['unet']);
      expect(compareWithModel(model, 'unet', back.unet!)).toEqual([]);
      const all = await m.exportFusedWeights();
      for (const c of components) expect(compareWithModel(model, c, all[c]!)).toEqual([]);
    });
  }

  it('on the wasm sessions (what lorafuse run-case/generate use): live weights in the sessions are not exported', async () => {
    const model = await loadModel(new LocalFolderSource(join(FIX_ABS, 'models', 'tiny-sd15')));
    try {
      const sessions = { unet: model.unet, text_encoder: model.textEncoders[0]!.session };
      const m = new AdapterManager({
        target: loraTarget(model.describe, {
          unet: model.configs.unet,
          textEncoder: model.configs.textEncoder,
        }),
        base: sessionBaseSource(sessions),
        sinks: [sessionSink(sessions)],
        openRepo: (repo) => new LocalFolderSource(join(FIX_ABS, repo)),
      });
      await m.loadLoraWeights(LORA.kohya, { adapterName: 'a' });
      await m.loadLoraWeights(LORA.rank2, { adapterName: 'b' });
      await m.fuseLora({ adapterNames: ['b'] });
      // 'a' is live in the sessions, 'b' fused: the export holds the base + b only.
      const reference = loadDeltas('deltas/sd15-rank2.safetensors');
      const fused = tensorsOf((await m.exportFusedWeights({ components: ['unet'] })).unet!);
      const file = modelFile('tiny-sd15', 'unet');
      expect(fused.size).toBe(model.unet.def.weights.length);
      for (const [key, t] of fused) {
        const delta = reference.get(`unet.${key}`)?.data;
        const w0 = file.float32(key);
        if (!delta) expect(bitEqual(t.data, w0), key).toBe(true);
        else
          expect(
            maxAbsDiff(
              t.data,
              Float32Array.from(w0, (x, i) => x + delta[i]!),
            ),
            key,
          ).toBeLessThanOrEqual(1e-5);
      }
      await m.unfuseLora();
      const all = await m.exportFusedWeights();
      for (const c of ['unet', 'text_encoder'] as const) {
        const file = modelFile('tiny-sd15', c);
        for (const [key, t] of tensorsOf(all[c]!))
          expect(bitEqual(t.data, file.float32(key)), key).toBe(true);
      }
    } finally {
      await model.release();
    }
  });

  it('refuses a component the model lacks, and a base that cannot list a state dict', async () => {
    const m = exportingManager('tiny-sd15');
    const e = await rejection(m.exportFusedWeights({ components: ['text_encoder_2'] }));
    expect(codeOf(e)).toBe('invalid-argument');
    const { m: plain } = manager();
    expect(codeOf(await rejection(plain.exportFusedWeights()))).toBe('not-implemented');
  });
});
