/**
 * The adapter manager on the GPU store (the WebGPU path: `new AdapterManager({store: GpuWeightStore})`)
 * against the same calls on the CPU store, on the tiny-sd15 fixtures in Node/Dawn:
 * - after every state call (load, weights, scale, block dict, disable/enable, fuse/unfuse, delete,
 *   unload) each touched module's effective and fused weights, read back from the GPU, equal the
 *   CPU manager's; the active adapters agree;
 * - bindings: every module is bound to its effective buffers while live, to its source buffers
 *   (the model's own, bit-identical) at scale 0, when disabled and after unfuse;
 * - fuse/unfuse cycles leave the base buffers bit-identical; 100 hotswaps with a target rank create
 *   no GPU buffer and no factor array; deleting adapters frees their factor buffers;
 * - a call that fails on the GPU (NaN/Inf) changes nothing: state, bindings and weights;
 * - exportFusedWeights and saveLoraAdapter give the CPU manager's bytes.
 *
 * Tolerance (f32): max |gpu - cpu| <= 1e-5 * max |W_eff| (adapters-gpu.test.ts says why: both round
 * to f32, sums over ranks <= 64 and a few terms stay ~1e-6 of max|W|).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalFolderSource } from '../../src/core/io/model-source.ts';
import { readSafetensors } from '../../src/core/io/safetensors.ts';
import type { Component, F32Tensor } from '../../src/core/lora/adapter.ts';
import type { BaseParams } from '../../src/core/lora/merge-cpu.ts';
import {
  type GpuBindingSink,
  type GpuParams,
  GpuWeightStore,
} from '../../src/core/pipeline/adapters/gpu-weights.ts';
import { AdapterManager } from '../../src/core/pipeline/adapters.ts';
import { FIX, fileBase, LORA, manager, target } from '../unit/adapters-helpers.ts';
import { getTestDevice, uncapturedErrors } from './dawn.ts';

class RecordingBinds implements GpuBindingSink {
  readonly last = new Map<string, GpuParams>();
  bind(component: Component, module: string, params: GpuParams): void {
    this.last.set(`${component}.${module}`, params);
  }
}

const stores: GpuWeightStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.destroy();
  expect(uncapturedErrors).toEqual([]);
});

const unetFile = () =>
  readSafetensors(
    new Uint8Array(readFileSync(join(FIX, 'models/tiny-sd15/unet/diffusion_pytorch_model.safetensors'))),
    'unet',
  );

/** Every parameter of the fixture's UNet (the text encoder is not exported by these tests). */
function stateDict(component: Component): Map<string, F32Tensor> | undefined {
  if (component !== 'unet') return undefined;
  const f = unetFile();
  return new Map(f.names().map((n) => [n, { shape: [...f.info(n).shape], data: f.float32(n) }]));
}

async function gpuManager() {
  const device = await getTestDevice();
  const base = fileBase('tiny-sd15');
  const store = new GpuWeightStore(device, { base });
  stores.push(store);
  const binds = new RecordingBinds();
  store.addSink(binds);
  const m = new AdapterManager({
    target: target('tiny-sd15'),
    store,
    stateDict,
    openRepo: (repo: string) => new LocalFolderSource(join(FIX, repo)),
  });
  return { m, store, binds, device };
}

/** Both managers, driven by the same calls. */
async function pair() {
  const gpu = await gpuManager();
  const cpu = manager();
  const both = async (f: (m: AdapterManager) => Promise<unknown>) => {
    await f(cpu.m);
    await f(gpu.m);
  };
  return { gpu, cpu: cpu.m, both };
}

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const x of a) m = Math.max(m, Math.abs(x));
  return m;
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function bitEqual(a: Float32Array, b: Float32Array): boolean {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

function close(got: BaseParams, want: BaseParams, what: string): void {
  const s = maxAbs(want.weight.data);
  expect(maxDiff(got.weight.data, want.weight.data), what).toBeLessThanOrEqual(1e-5 * s);
  if (want.bias)
    expect(maxDiff(got.bias!.data, want.bias.data), `${what}.bias`).toBeLessThanOrEqual(
      1e-5 * maxAbs(want.bias.data),
    );
}

/** The GPU manager's weights equal the CPU manager's for every module the CPU one holds. */
async function expectSame(cpu: AdapterManager, gpu: AdapterManager, store: GpuWeightStore): Promise<void> {
  expect(gpu.getActiveAdapters()).toEqual(cpu.getActiveAdapters());
  expect(gpu.getFusedAdapters()).toEqual(cpu.getFusedAdapters());
  const ids = store.ids().sort();
  expect(ids.length).toBeGreaterThan(0);
  for (const id of ids) {
    const { component, module } = store.info(id)!;
    const want = cpu.moduleWeights(component, module);
    expect(want, id).toBeDefined();
    const got = (await gpu.readModuleWeights(component, module))!;
    close(got.effective, want!.effective, `${id} effective`);
    close(got.base, want!.base, `${id} base`);
    expect(got.fused, id).toBe(want!.fused);
  }
}

describe('AdapterManager on the GPU store = on the CPU store', () => {
  it('every state call gives the CPU manager weights, and bindings follow live terms', async () => {
    const { gpu, cpu, both } = await pair();
    await both((m) => m.loadLoraWeights(LORA.kohya, { adapterName: 'k' }));
    await both((m) => m.loadLoraWeights(LORA.trainscript, { adapterName: 't' }));
    await expectSame(cpu, gpu.m, gpu.store);
    await both((m) => m.setAdapters(['k', 't'], [0.7, -0.4]));
    await expectSame(cpu, gpu.m, gpu.store);
    for (const id of gpu.store.ids()) expect(gpu.binds.last.get(id), id).toBe(gpu.store.get(id)!.effective);
    await both((m) => m.setAdapters(['k', 't'], [{ unet: { down: 0.5, mid: 1, up: 1.2 } }, 1]));
    await expectSame(cpu, gpu.m, gpu.store);
    await both((m) => m.setScale(0.6));
    await expectSame(cpu, gpu.m, gpu.store);

    await both((m) => m.setScale(0));
    for (const id of gpu.store.ids()) expect(gpu.binds.last.get(id), id).toBe(gpu.store.get(id)!.source);
    await both((m) => m.setScale(1));
    await both((m) => m.disableLora());
    for (const id of gpu.store.ids()) expect(gpu.binds.last.get(id), id).toBe(gpu.store.get(id)!.source);
    await both((m) => m.enableLora());
    await expectSame(cpu, gpu.m, gpu.store);

    await both((m) => m.fuseLora({ adapterNames: ['k'], loraScale: 0.8 }));
    await expectSame(cpu, gpu.m, gpu.store);
    await both((m) => m.unfuseLora());
    await expectSame(cpu, gpu.m, gpu.store);
    for (const id of gpu.store.ids()) expect(gpu.store.get(id)!.base, id).toBe(gpu.store.get(id)!.source);

    await both((m) => m.deleteAdapters('t'));
    await expectSame(cpu, gpu.m, gpu.store);
    await both((m) => m.fuseLora());
    await both((m) => m.unloadLoraWeights());
    expect(gpu.m.getListAdapters()).toEqual({});
    // What is fused stays in the base after unload (the Diffusers fuse-then-unload recipe).
    await expectSame(cpu, gpu.m, gpu.store);
    expect(gpu.store.factors.size).toBe(0);
  }, 240_000);

  it('fuse/unfuse cycles leave every base buffer bit-identical to the model', async () => {
    const { m, store, binds } = await gpuManager();
    const base = fileBase('tiny-sd15');
    await m.loadLoraWeights(LORA.kohya, { adapterName: 'k' });
    // Few cycles here (each re-merges every module on SwiftShader); adapters-gpu.test.ts runs 100
    // (FUSE_CYCLES=1000 for the figure) on the store itself.
    const cycles = Number(process.env.FUSE_CYCLES ?? 5);
    for (let i = 0; i < cycles; i++) {
      await m.fuseLora({ loraScale: 0.9 });
      await m.unfuseLora();
    }
    await m.setScale(0);
    for (const id of store.ids()) {
      const { component, module } = store.info(id)!;
      expect(binds.last.get(id), id).toBe(store.get(id)!.source);
      const got = (await m.readModuleWeights(component, module))!;
      expect(bitEqual(got.base.weight.data, base.read(component, module).weight.data), id).toBe(true);
      expect(bitEqual(got.effective.weight.data, got.base.weight.data), id).toBe(true);
    }
  }, 600_000);

  it('100 hotswaps with a target rank create no GPU buffer and no factor array', async () => {
    const { m, store, device } = await gpuManager();
    const cpu = manager().m;
    await m.enableLoraHotswap({ targetRank: 8 });
    await cpu.enableLoraHotswap({ targetRank: 8 });
    await m.loadLoraWeights(LORA.rank8, { adapterName: 'x' });
    await m.loadLoraWeights(LORA.rank2, { adapterName: 'x', hotswap: true });
    const factorArrays = m.stats.factorAllocations;
    const factorBuffers = store.factors.stats.buffersCreated;
    const original = device.createBuffer;
    let created = 0;
    device.createBuffer = function (this: GPUDevice, d: GPUBufferDescriptor) {
      if (!(d.usage & GPUBufferUsage.UNIFORM)) created++;
      return original.call(this, d);
    };
    try {
      for (let i = 0; i < 100; i++) {
        await m.loadLoraWeights(i % 2 === 0 ? LORA.rank8 : LORA.rank2, { adapterName: 'x', hotswap: true });
      }
    } finally {
      device.createBuffer = original;
    }
    // Readbacks (below) make staging buffers: counted only inside the loop above.
    expect(created).toBe(0);
    expect(m.stats.factorAllocations).toBe(factorArrays);
    expect(store.factors.stats.buffersCreated).toBe(factorBuffers);
    await cpu.loadLoraWeights(LORA.rank8, { adapterName: 'x' });
    await cpu.loadLoraWeights(LORA.rank2, { adapterName: 'x', hotswap: true });
    await expectSame(cpu, m, store);
  }, 300_000);

  it('a NaN/Inf merge is refused and changes nothing: state, bindings, weights', async () => {
    const { m, store, binds } = await gpuManager();
    await m.loadLoraWeights(LORA.kohya, { adapterName: 'k' });
    await m.setAdapters('k', 0.5);
    const id = store.ids()[0]!;
    const { component, module } = store.info(id)!;
    const bound = binds.last.get(id);
    const before = (await m.readModuleWeights(component, module))!.effective.weight.data;
    await expect(m.setAdapters('k', Number.MAX_VALUE)).rejects.toMatchObject({ code: 'lora-nonfinite' });
    await expect(m.fuseLora({ loraScale: Number.MAX_VALUE })).rejects.toMatchObject({
      code: 'lora-nonfinite',
    });
    expect(m.getFusedAdapters()).toEqual({});
    expect(binds.last.get(id)).toBe(bound);
    const after = (await m.readModuleWeights(component, module))!.effective.weight.data;
    expect(bitEqual(after, before)).toBe(true);
  }, 120_000);

  it('exportFusedWeights and saveLoraAdapter give the CPU manager’s results', async () => {
    const { gpu, cpu, both } = await pair();
    await both((m) => m.loadLoraWeights(LORA.kohya, { adapterName: 'k' }));
    await both((m) => m.fuseLora({ loraScale: 0.7 }));
    const cpuStateDict = new AdapterManager({
      target: target('tiny-sd15'),
      base: { ...fileBase('tiny-sd15'), stateDict },
      openRepo: (repo: string) => new LocalFolderSource(join(FIX, repo)),
    });
    await cpuStateDict.loadLoraWeights(LORA.kohya, { adapterName: 'k' });
    await cpuStateDict.fuseLora({ loraScale: 0.7 });
    const want = readSafetensors(
      (await cpuStateDict.exportFusedWeights({ components: ['unet'] })).unet!,
      'cpu',
    );
    const got = readSafetensors((await gpu.m.exportFusedWeights({ components: ['unet'] })).unet!, 'gpu');
    expect(got.names()).toEqual(want.names());
    for (const n of want.names()) {
      const w = want.float32(n);
      expect(maxDiff(got.float32(n), w), n).toBeLessThanOrEqual(1e-5 * Math.max(maxAbs(w), 1e-30));
    }
    expect(gpu.m.saveLoraAdapter('k')).toEqual(cpu.saveLoraAdapter('k'));
  }, 120_000);
});
