/**
 * The adapter manager's GPU weight store (pipeline/adapters/gpu-weights.ts) on tiny-sd15 fixtures:
 * - GPU effective weights equal the CPU manager's (`AdapterManager.effectiveWeight`, merge-cpu's
 *   oracle, itself checked against Diffusers/PEFT/LyCORIS deltas) for kohya + diffusers LoRAs
 *   (two terms on the same modules), a LyCORIS LoHa and a PEFT DoRA;
 * - dirty tracking: a weight change of one adapter merges only its modules (merges counted);
 * - fuse/unfuse cycles leave every base buffer bit-identical (read back), and the effective ones;
 * - scale 0 / disable: every module is bound to its pristine base buffers;
 * - 100 hotswaps with a target rank create no GPU buffer (createBuffer counted on the device);
 * - a NaN/Inf merge is refused naming the module, and the bound buffers keep their weights.
 *
 * Tolerance (f32): max |gpu - cpu| <= 1e-5 * max |W_eff|, as in module-merge-harness.ts: both
 * sides round to f32 (the CPU oracle sums its products in f64, the kernels in f32); over ranks
 * <= 64 and a few terms the f32 error is ~sqrt(R) 2^-24 sum|terms| ~ 1e-6 max|W|, a 10x margin.
 * Each case checks that the adapters change the weights by far more than that (> 1e-3 max|W|).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type AdapterModule, type Component, moduleId } from '../../src/core/lora/adapter.ts';
import {
  type GpuBindingSink,
  type GpuParams,
  type GpuTerm,
  GpuWeightStore,
} from '../../src/core/pipeline/adapters/gpu-weights.ts';
import { padModule, swapInto } from '../../src/core/pipeline/adapters/hotswap.ts';
import type { AdapterManager } from '../../src/core/pipeline/adapters.ts';
import { FIX, fileBase, LORA, manager } from '../unit/adapters-helpers.ts';
import { getTestDevice, readBuffer, uncapturedErrors } from './dawn.ts';

const base = fileBase('tiny-sd15');
const LOHA = {
  bytes: new Uint8Array(readFileSync(join(FIX, 'lycoris/sd15-loha.safetensors'))),
  name: 'sd15-loha.safetensors',
};

class RecordingBinds implements GpuBindingSink {
  readonly last = new Map<string, GpuParams>();
  count = 0;
  bind(component: Component, module: string, params: GpuParams): void {
    this.count++;
    this.last.set(`${component}.${module}`, params);
  }
}

interface Loaded {
  name: string;
  modules: AdapterModule[];
  source: string;
}

let nextUid = 1;
const uids = new WeakMap<AdapterModule, number>();
function uidOf(m: AdapterModule): number {
  let u = uids.get(m);
  if (u === undefined) {
    u = nextUid++;
    uids.set(m, u);
  }
  return u;
}

async function load(
  m: AdapterManager,
  source: Parameters<AdapterManager['loadLoraWeights']>[0],
  name: string,
) {
  await m.loadLoraWeights(source, { adapterName: name });
  const ad = m.getAdapter(name);
  return { name, modules: ad.modules, source: ad.source } satisfies Loaded;
}

/** Per module id, each adapter's term at its coefficient (0 leaves it out, as the manager does). */
function termsOf(adapters: readonly [Loaded, number][]): Map<string, GpuTerm[]> {
  const out = new Map<string, GpuTerm[]>();
  for (const [ad, c] of adapters) {
    for (const mod of ad.modules) {
      const id = moduleId(mod);
      const list = out.get(id) ?? [];
      if (c !== 0) list.push({ module: mod, coefficient: c, source: ad.source, uid: uidOf(mod) });
      out.set(id, list);
    }
  }
  return out;
}

function split(id: string): [Component, string] {
  const dot = id.indexOf('.');
  return [id.slice(0, dot) as Component, id.slice(dot + 1)];
}

/** One store change: modules added (base uploaded from the fixture files) and their live terms set. */
async function setLive(store: GpuWeightStore, terms: Map<string, GpuTerm[]>): Promise<void> {
  const tx = store.begin();
  for (const [id, list] of terms) {
    const [c, mod] = split(id);
    if (!tx.has(id)) tx.addModule(c, mod, base.read(c, mod));
    tx.setTerms(id, list);
  }
  await tx.compute();
  tx.commit();
}

async function readF32(device: GPUDevice, b: GPUBuffer, count: number): Promise<Float32Array> {
  return new Float32Array(await readBuffer(device, b), 0, count);
}

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const x of a) m = Math.max(m, Math.abs(x));
  return m;
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function bitEqual(a: Float32Array, b: Float32Array): boolean {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** Every store module's effective weight (and bias) against the CPU manager's; returns max relative change. */
async function expectMatchesCpu(
  device: GPUDevice,
  store: GpuWeightStore,
  m: AdapterManager,
): Promise<number> {
  let change = 0;
  for (const id of store.ids()) {
    const g = store.get(id)!;
    const cpu = m.effectiveWeight(g.component, g.module)!;
    const eff = g.effective!;
    expect(g.bound, id).toBe(eff);
    const w = await readF32(device, eff.weight, g.count);
    const scale = maxAbs(cpu.weight.data);
    expect(maxDiff(w, cpu.weight.data), id).toBeLessThanOrEqual(1e-5 * scale);
    if (cpu.bias && eff.bias) {
      const b = await readF32(device, eff.bias, cpu.bias.data.length);
      expect(maxDiff(b, cpu.bias.data), `${id}.bias`).toBeLessThanOrEqual(1e-5 * maxAbs(cpu.bias.data));
    }
    const orig = base.read(g.component, g.module).weight.data;
    change = Math.max(change, maxDiff(cpu.weight.data, orig) / scale);
  }
  return change;
}

/**
 * Counts `createBuffer` calls on the device while `body` runs, except UNIFORM ones: every kernel
 * launch (gpu/kernel.ts) makes its own 16-byte params uniform, which no store can reuse.
 */
async function countCreates(device: GPUDevice, body: () => Promise<void>): Promise<number> {
  const original = device.createBuffer;
  let n = 0;
  device.createBuffer = function (this: GPUDevice, d: GPUBufferDescriptor) {
    if (!(d.usage & GPUBufferUsage.UNIFORM)) n++;
    return original.call(this, d);
  };
  try {
    await body();
  } finally {
    device.createBuffer = original;
  }
  return n;
}

/** FUSE_CYCLES=1000 for the figure (about 10 minutes on SwiftShader). */
const FUSE_CYCLES = Number(process.env.FUSE_CYCLES ?? 100);

const stores: GpuWeightStore[] = [];
function newStore(device: GPUDevice): { store: GpuWeightStore; binds: RecordingBinds } {
  const store = new GpuWeightStore(device);
  const binds = new RecordingBinds();
  store.addSink(binds);
  stores.push(store);
  return { store, binds };
}

afterEach(() => {
  for (const s of stores.splice(0)) s.destroy();
  expect(uncapturedErrors).toEqual([]);
});

describe('GPU weight store = CPU manager', () => {
  it('kohya + diffusers LoRAs on the same modules (two terms per module in one launch, persistent factors)', async () => {
    const device = await getTestDevice();
    const { m } = manager();
    const k = await load(m, LORA.kohya, 'k');
    const t = await load(m, LORA.trainscript, 't');
    await m.setAdapters(['k', 't'], [0.7, 0.5]);
    const { store } = newStore(device);
    await setLive(
      store,
      termsOf([
        [k, 0.7],
        [t, 0.5],
      ]),
    );
    expect(store.ids().length).toBeGreaterThan(10);
    expect(store.stats.moduleMerges).toBe(0);
    // Where both adapters touch a module, their ranks are concatenated: one launch per module.
    expect(store.stats.loraLaunches).toBe(store.ids().length);
    const shared = store.ids().filter((id) => store.get(id)!.terms.length > 1).length;
    expect(shared).toBeGreaterThan(10);
    expect(store.concat.size).toBe(shared);
    expect(await expectMatchesCpu(device, store, m)).toBeGreaterThan(1e-3);
  });

  it('a LyCORIS LoHa (mergeModule path)', async () => {
    const device = await getTestDevice();
    const { m } = manager();
    const l = await load(m, LOHA, 'l');
    await m.setAdapters(['l'], [0.8]);
    const { store } = newStore(device);
    await setLive(store, termsOf([[l, 0.8]]));
    expect(store.stats.moduleMerges).toBe(store.ids().length);
    expect(await expectMatchesCpu(device, store, m)).toBeGreaterThan(1e-3);
    // The LoHa factors stay on the GPU: a coefficient change uploads none of them again.
    const kept = store.uploads.stats.buffersCreated;
    expect(kept).toBeGreaterThanOrEqual(4 * store.ids().length);
    await setLive(store, termsOf([[l, -0.3]]));
    expect(store.uploads.stats.buffersCreated).toBe(kept);
    await m.setAdapters(['l'], [-0.3]);
    expect(await expectMatchesCpu(device, store, m)).toBeGreaterThan(1e-3);
  });

  it('a PEFT DoRA', async () => {
    const device = await getTestDevice();
    const { m } = manager();
    const d = await load(m, LORA.dora, 'd');
    await m.setAdapters(['d'], [0.6]);
    const { store } = newStore(device);
    await setLive(store, termsOf([[d, 0.6]]));
    expect(store.stats.moduleMerges).toBe(store.ids().length);
    expect(await expectMatchesCpu(device, store, m)).toBeGreaterThan(1e-3);
  });
});

describe('buffer ownership', () => {
  it('dirty tracking: a weight change of one adapter merges only its modules', async () => {
    const device = await getTestDevice();
    const { m } = manager();
    const k = await load(m, LORA.kohya, 'k');
    const l = await load(m, LOHA, 'l');
    const { store } = newStore(device);
    await setLive(
      store,
      termsOf([
        [k, 1],
        [l, 1],
      ]),
    );
    const lohaIds = new Set(l.modules.map(moduleId));
    const kohyaIds = new Set(k.modules.map(moduleId));
    expect([...lohaIds].every((id) => kohyaIds.has(id))).toBe(false);
    const changed = async (terms: Map<string, GpuTerm[]>) => {
      const before = new Map(store.stats.perModule);
      await setLive(store, terms);
      return new Set([...store.stats.perModule].filter(([id, n]) => n !== before.get(id)).map(([id]) => id));
    };
    expect(
      await changed(
        termsOf([
          [k, 1],
          [l, 0.4],
        ]),
      ),
    ).toEqual(lohaIds);
    expect(
      await changed(
        termsOf([
          [k, 0.3],
          [l, 0.4],
        ]),
      ),
    ).toEqual(kohyaIds);
    // A change to nothing merges nothing.
    expect(
      await changed(
        termsOf([
          [k, 0.3],
          [l, 0.4],
        ]),
      ),
    ).toEqual(new Set());
  });

  it('scale 0 / disable binds every module to its pristine base; enable binds the effective buffers again; a coefficient change creates no buffer', async () => {
    const device = await getTestDevice();
    const { m } = manager();
    const k = await load(m, LORA.kohya, 'k');
    const { store, binds } = newStore(device);
    await setLive(store, termsOf([[k, 1]]));
    for (const id of store.ids()) expect(binds.last.get(id), id).toBe(store.get(id)!.effective);
    await setLive(store, termsOf([[k, 0]]));
    for (const id of store.ids()) {
      const g = store.get(id)!;
      expect(binds.last.get(id), id).toBe(g.source);
      const orig = base.read(g.component, g.module).weight.data;
      expect(bitEqual(await readF32(device, g.source.weight, g.count), orig), id).toBe(true);
    }
    await setLive(store, termsOf([[k, 1]]));
    for (const id of store.ids()) expect(binds.last.get(id), id).toBe(store.get(id)!.effective);
    // A coefficient change (a slider) rewrites scales only: no buffer is created.
    const before = store.factors.stats.scaleWrites;
    expect(await countCreates(device, () => setLive(store, termsOf([[k, 0.5]])))).toBe(0);
    expect(store.factors.stats.scaleWrites - before).toBe(store.ids().length);
  });

  it(
    `${FUSE_CYCLES} fuse/unfuse cycles leave every base buffer (and the effective ones) bit-identical`,
    async () => {
      const device = await getTestDevice();
      const { m } = manager();
      const k = await load(m, LORA.kohya, 'k');
      const { store, binds } = newStore(device);
      const live = termsOf([[k, 0.7]]);
      await setLive(store, live);
      const ids = store.ids();
      const snap = async (which: 'source' | 'effective') =>
        Promise.all(ids.map((id) => readF32(device, store.get(id)![which]!.weight, store.get(id)!.count)));
      const sources = await snap('source');
      const effective = await snap('effective');
      for (const [i, id] of ids.entries()) {
        const g = store.get(id)!;
        expect(bitEqual(sources[i]!, base.read(g.component, g.module).weight.data), id).toBe(true);
      }
      // The fused base against the CPU manager's fuse (weight 0.7, loraScale 0.9).
      await m.setAdapters(['k'], [0.7]);
      await m.fuseLora({ loraScale: 0.9 });
      // Live adapters off during the cycles (as the CPU test does with disableLora), so a cycle
      // costs one fuse merge per module and unfuse only points the bindings back.
      await setLive(store, new Map(ids.map((id) => [id, []])));
      const cycles = FUSE_CYCLES;
      const t0 = performance.now();
      let createdAfterFirst = -1;
      for (let i = 0; i < cycles; i++) {
        const s = 0.9 - (i % 7) * 0.1;
        const fuse = store.begin();
        for (const id of ids) {
          fuse.fuse(
            id,
            live.get(id)!.map((x) => ({ ...x, coefficient: x.coefficient * s })),
          );
        }
        await fuse.compute();
        fuse.commit();
        if (i === 0) {
          for (const id of ids) {
            const g = store.get(id)!;
            expect(g.fused).toBe(true);
            expect(binds.last.get(id)).toBe(g.base);
            const cpu = (await m.fusedWeight(g.component, g.module)).weight.data;
            const gpu = await readF32(device, g.base.weight, g.count);
            expect(maxDiff(gpu, cpu), id).toBeLessThanOrEqual(1e-5 * maxAbs(cpu));
          }
        }
        const unfuse = store.begin();
        for (const id of ids) {
          unfuse.unfuse(id);
          unfuse.setTerms(id, []);
        }
        await unfuse.compute();
        unfuse.commit();
        if (i === 0) {
          for (const id of ids) expect(binds.last.get(id)).toBe(store.get(id)!.source);
          createdAfterFirst = store.stats.buffersCreated;
        }
      }
      console.info(`${cycles} fuse/unfuse cycles: ${(performance.now() - t0).toFixed(0)} ms`);
      await setLive(store, live);
      for (const id of ids) {
        const g = store.get(id)!;
        expect(g.fused).toBe(false);
        expect(g.base).toBe(g.source);
        expect(binds.last.get(id)).toBe(g.effective);
        expect(g.effective).not.toBe(g.source);
      }
      const after = await snap('source');
      const effAfter = await snap('effective');
      ids.forEach((id, i) => {
        expect(bitEqual(after[i]!, sources[i]!), id).toBe(true);
        expect(bitEqual(effAfter[i]!, effective[i]!), id).toBe(true);
      });
      expect(store.stats.fuses).toBe(cycles * ids.length);
      // The fused pool never grows past the first cycle's buffer (unfuse frees it for the next fuse).
      expect(store.stats.buffersCreated).toBe(createdAfterFirst);
    },
    Math.max(120_000, FUSE_CYCLES * 1_500),
  );

  it('100 hotswaps with a target rank create no GPU buffer and match the CPU manager', async () => {
    const device = await getTestDevice();
    const { m } = manager();
    const a = await load(m, LORA.rank8, 'a');
    const b = await load(m, LORA.rank2, 'b');
    const T = 8;
    const bById = new Map(b.modules.map((x) => [moduleId(x), x]));
    expect(a.modules.every((x) => bById.has(moduleId(x)))).toBe(true);
    // Target-rank buffers as the manager makes them (hotswap.ts), one per module.
    const buffers = new Map<string, AdapterModule>();
    for (const x of a.modules) buffers.set(moduleId(x), padModule(x, T, (n) => new Float32Array(n))!);
    let uid = 1_000_000;
    const termsNow = (views: Map<string, AdapterModule>, src: string) =>
      new Map([...views].map(([id, mod]) => [id, [{ module: mod, coefficient: 0.8, source: src, uid }]]));
    const { store } = newStore(device);
    await setLive(store, termsNow(buffers, 'a'));
    const factorBuffers = store.factors.stats.buffersCreated;
    let last = a;
    const created = await countCreates(device, async () => {
      for (let i = 0; i < 100; i++) {
        const next = i % 2 === 0 ? b : a;
        const from = new Map(next.modules.map((x) => [moduleId(x), x]));
        const views = new Map<string, AdapterModule>();
        for (const [id, buf] of buffers) views.set(id, swapInto(buf, from.get(id)!, T)!);
        uid++;
        const tx = store.begin();
        for (const [id, list] of termsNow(views, next.name)) tx.setTerms(id, list);
        await tx.compute();
        tx.commit();
        last = next;
      }
    });
    expect(store.factors.stats.buffersCreated).toBe(factorBuffers);
    expect(store.factors.stats.factorWrites).toBe(100 * buffers.size);
    expect(created).toBe(0);
    await m.setAdapters([last.name], [0.8]);
    expect(await expectMatchesCpu(device, store, m)).toBeGreaterThan(1e-3);
  }, 120_000);

  it('a NaN/Inf merge is refused naming the module; bound buffers keep the committed weights', async () => {
    const device = await getTestDevice();
    const { m } = manager();
    const k = await load(m, LORA.kohya, 'k');
    const { store, binds } = newStore(device);
    await setLive(store, termsOf([[k, 0.5]]));
    const id = store.ids()[0]!;
    const g = store.get(id)!;
    const before = await readF32(device, g.effective!.weight, g.count);
    const bad = termsOf([[k, Number.MAX_VALUE]]);
    const tx = store.begin();
    tx.setTerms(id, bad.get(id)!);
    await expect(tx.compute()).rejects.toMatchObject({ code: 'lora-nonfinite', details: { module: id } });
    expect(binds.last.get(id)).toBe(g.effective);
    expect(bitEqual(await readF32(device, g.effective!.weight, g.count), before)).toBe(true);
    expect(store.get(id)!.terms[0]!.coefficient).toBe(0.5);
  });
});
