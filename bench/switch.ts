/**
 * How long does a LoRA hotswap take on the CPU path (Diffusers' `enable_lora_hotswap` +
 * `load_lora_weights(..., hotswap=True)`), for the SD1.5 UNet's layers?
 *
 * Random LoRA files (PEFT keys, rank --ranks, one file per adapter plus a replacement) are built in
 * memory with `writeSafetensors`; base weights are random float32 of the SD1.5 shapes (from
 * tests/fixtures/configs/sd15). The adapter manager (src/core/pipeline/adapters.ts) with the CPU
 * merge backend loads --adapters adapters, then hotswaps the first one, alternating two files:
 * each swap parses, converts, validates and re-merges every touched layer (at total rank
 * adapters x rank). Baselines in the same run: `setAdapters` with a new weight (the same
 * re-merge, no file: what a slider or a per-step schedule costs), and a JS copy of all effective
 * weight bytes. Medians of --runs after one warm-up.
 *
 * Defaults (about a minute on 2 loaded cores): the 128 attention projections, ranks 4 and 64, one
 * adapter. `--full`: every linear and conv layer, ranks 4/16/64/128, one and three adapters.
 *
 * `--gpu`: the same manager on the GPU store (the WebGPU path: bases uploaded once, factors in
 * persistent buffers sized for the target rank, merges by the merge-lora kernel, the NaN/Inf check
 * read back before each call returns), on Dawn in Node: SwiftShader, or the machine's Vulkan
 * driver with `--real-gpu`. The copy baseline is then a GPU copy of every effective buffer.
 *
 * usage: tsx bench/run.ts switch [--full] [--runs 3] [--ranks 4,64] [--adapters 1]
 *                                [--gpu [--real-gpu]] [--smoke]
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import type { UNetConfig } from '../src/core/graph/config/unet-config.ts';
import { writeSafetensors } from '../src/core/io/safetensors.ts';
import type { Component } from '../src/core/lora/adapter.ts';
import type { BaseParams } from '../src/core/lora/merge-cpu.ts';
import { createMergeBackend } from '../src/core/lora/merge-fast/create-backend.ts';
import type { MergeBackend } from '../src/core/lora/merge-fast/merge-backend.ts';
import { loraTarget } from '../src/core/lora/target.ts';
import type { GpuWeightStore } from '../src/core/pipeline/adapters/gpu-weights.ts';
import { AdapterManager, type BaseWeightSource } from '../src/core/pipeline/adapters.ts';
import {
  attentionLayers,
  isGpuChild,
  type Layer,
  loadAverage,
  loraLayers,
  machineLine,
  median,
  ms,
  positiveIntegers,
  pseudoRandom,
  registerRawImports,
  row,
  runInGpuChild,
  sd15UNetConfig,
  timeRuns,
} from './bench-run.ts';

/** A PEFT-keyed LoRA on the given UNet layers, random factors, as the bytes of a .safetensors file. */
export function randomLoraFile(layers: readonly Layer[], rank: number, seed: number, name: string) {
  const tensors = layers.flatMap((l, i) => {
    const [out, ...rest] = l.shape;
    const conv = rest.length === 3;
    const down = conv ? [rank, rest[0]!, rest[1]!, rest[2]!] : [rank, l.in];
    const up = conv ? [out!, rank, 1, 1] : [out!, rank];
    return [
      {
        name: `unet.${l.path}.lora_A.weight`,
        dtype: 'F32' as const,
        shape: down,
        data: pseudoRandom(rank * l.in, seed * 100_003 + 2 * i),
      },
      {
        name: `unet.${l.path}.lora_B.weight`,
        dtype: 'F32' as const,
        shape: up,
        data: pseudoRandom(l.out * rank, seed * 100_003 + 2 * i + 1),
      },
    ];
  });
  return { bytes: writeSafetensors(tensors), name: `${name}.safetensors` };
}

/** Random base weights of the config's shapes, made when the manager first reads a module. */
export function randomBase(cfg: UNetConfig): BaseWeightSource {
  const inv = loraTarget('bench', { unet: cfg }).components.unet!.inventory;
  let seed = 1;
  return {
    read(component: Component, module: string): BaseParams {
      const m = inv.get(module);
      if (component !== 'unet' || !m) throw new Error(`bench: no UNet module ${component}.${module}`);
      const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
      const weight = { shape: [...m.weight], data: pseudoRandom(size(m.weight), seed++) };
      return m.bias
        ? { weight, bias: { shape: [...m.bias], data: pseudoRandom(size(m.bias), seed++) } }
        : { weight };
    },
  };
}

export interface SwitchTimes {
  /** ms per hotswap of the first adapter (parse, convert, re-merge). */
  hotswapMs: number[];
  /** ms per `setAdapters` with new weights (re-merge only). */
  reweightMs: number[];
  /** ms per JS copy of every effective weight. */
  copyMs: number[];
  /** Effective weight values re-merged per switch. */
  weights: number;
}

/** Loads `adapters` random rank-`rank` LoRAs on `layers` through the manager, then times the switches. */
export async function switchTimes(
  cfg: UNetConfig,
  layers: readonly Layer[],
  rank: number,
  adapters: number,
  runs: number,
  merge: MergeBackend | GPUDevice,
): Promise<SwitchTimes> {
  const target = loraTarget('sd15 (bench)', { unet: cfg });
  const gpu = 'queue' in merge ? merge : null;
  // Imported here: the GPU store's kernels are `?raw` WGSL, loadable once registerRawImports ran.
  const store = gpu
    ? new (await import('../src/core/pipeline/adapters/gpu-weights.ts')).GpuWeightStore(gpu, {
        base: randomBase(cfg),
      })
    : null;
  const manager = store
    ? new AdapterManager({ target, store })
    : new AdapterManager({ target, base: randomBase(cfg), merge: merge as MergeBackend });
  try {
    return await timeSwitches(manager, store, layers, rank, adapters, runs);
  } finally {
    store?.destroy();
  }
}

async function timeSwitches(
  manager: AdapterManager,
  store: GpuWeightStore | null,
  layers: readonly Layer[],
  rank: number,
  adapters: number,
  runs: number,
): Promise<SwitchTimes> {
  await manager.enableLoraHotswap({ targetRank: rank });
  const names: string[] = [];
  for (let a = 0; a < adapters; a++) {
    names.push(await manager.loadLoraWeights(randomLoraFile(layers, rank, a + 1, `adapter-${a}`)));
  }
  const swapIn = [randomLoraFile(layers, rank, 99, 'swap-b'), randomLoraFile(layers, rank, 1, 'swap-a')];
  let k = 0;
  const hotswapMs = await timeRuns(runs, async () => {
    await manager.loadLoraWeights(swapIn[k++ % 2]!, { adapterName: names[0]!, hotswap: true });
  });
  let w = 0;
  const reweightMs = await timeRuns(runs, async () => {
    await manager.setAdapters(
      names,
      names.map(() => (w++ % 2 === 0 ? 0.7 : 1)),
    );
  });
  if (store)
    return { hotswapMs, reweightMs, copyMs: await gpuCopyMs(store, runs), weights: weightsOf(layers) };
  const effective = layers.map((l) => manager.effectiveWeight('unet', l.path)!.weight.data);
  const copies = effective.map((e) => new Float32Array(e.length));
  const copyMs = await timeRuns(runs, () => {
    effective.forEach((e, i) => {
      copies[i]!.set(e);
    });
  });
  return { hotswapMs, reweightMs, copyMs, weights: effective.reduce((s, e) => s + e.length, 0) };
}

const weightsOf = (layers: readonly Layer[]) => layers.reduce((s, l) => s + l.out * l.in, 0);

/** ms per GPU copy of every effective buffer into a scratch buffer (one submit, waited for). */
async function gpuCopyMs(store: GpuWeightStore, runs: number): Promise<number[]> {
  const device = store.device;
  const sources = store.ids().map((id) => store.get(id)!.bound.weight);
  const size = Math.max(...sources.map((b) => b.size));
  const scratch = device.createBuffer({ label: 'bench-switch:copy', size, usage: GPUBufferUsage.COPY_DST });
  try {
    return await timeRuns(runs, async () => {
      const encoder = device.createCommandEncoder();
      for (const b of sources) encoder.copyBufferToBuffer(b, 0, scratch, 0, b.size);
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
    });
  } finally {
    scratch.destroy();
  }
}

const list = (text: string) => positiveIntegers(text, 'switch');

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      full: { type: 'boolean', default: false },
      runs: { type: 'string', default: '3' },
      ranks: { type: 'string' },
      adapters: { type: 'string' },
      gpu: { type: 'boolean', default: false },
      'real-gpu': { type: 'boolean', default: false },
      smoke: { type: 'boolean', default: false },
    },
  });
  if (values.gpu && !isGpuChild()) return runInGpuChild('switch', args, values['real-gpu']);
  const runs = Number(values.runs);
  values.ranks ??= values.full ? '4,16,64,128' : '4,64';
  values.adapters ??= values.full ? '1,3' : '1';
  // --smoke: SD1.5 at 1/40 of its widths, the attention projections, rank 4, one run (bench-smoke).
  const cfg = sd15UNetConfig(values.smoke ? 1 / 40 : 1);
  if (values.smoke) values.ranks = '4';
  const layers = values.full ? loraLayers(cfg) : attentionLayers(cfg);
  console.log(`bench switch: ${machineLine()}`);
  let merge: MergeBackend | GPUDevice;
  let backend: string;
  let dispose: () => Promise<void>;
  if (values.gpu) {
    await registerRawImports();
    const { benchDevice } = await import('./merge-gpu.ts');
    const gpu = await benchDevice();
    merge = gpu.device;
    backend = `GPU store on ${gpu.description}`;
    dispose = async () => gpu.device.destroy();
  } else {
    const cpu = await createMergeBackend({ threads: availableParallelism() });
    merge = cpu;
    backend = `CPU merge backend ${cpu.name}`;
    dispose = () => cpu.dispose();
  }
  console.log(
    `layers: ${layers.length} (${values.full ? 'every linear and conv' : 'attention projections'} of SD1.5), ${backend}, median of ${runs} runs`,
  );
  console.log(
    row([
      'rank',
      'adapters',
      'M weights',
      'hotswap',
      'setAdapters (re-merge)',
      values.gpu ? 'GPU copy' : 'JS copy',
      'hotswap / re-merge',
      'hotswap / copy',
    ]),
  );
  console.log(row(Array(8).fill('---')));
  try {
    for (const rank of list(values.ranks)) {
      for (const adapters of list(values.adapters)) {
        const t = await switchTimes(cfg, layers, rank, adapters, runs, merge);
        const [h, r, c] = [median(t.hotswapMs), median(t.reweightMs), median(t.copyMs)];
        console.log(
          row([
            rank,
            adapters,
            (t.weights / 1e6).toFixed(1),
            ms(h),
            ms(r),
            ms(c),
            `${(h / r).toFixed(2)}x`,
            `${(h / c).toFixed(1)}x`,
          ]),
        );
      }
    }
  } finally {
    await dispose();
  }
  console.log(`load average at end: ${loadAverage()}`);
}
