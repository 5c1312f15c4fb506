/**
 * How fast are effective weights computed, on the GPU and on the CPU path, for the SD1.5 UNet?
 *
 * Layers: the LoRA-targetable layers (every linear and conv) of the full-size SD1.5 UNet, shapes
 * from tests/fixtures/configs/sd15, random float32 weights. For ranks 4/16/64/128 and one or three
 * adapters (three adapters are one launch at R = 3 x rank, as the pipeline merges them):
 * - GPU: the merge-lora kernel over all layers, against the copy kernel moving the same W bytes
 *   (read W0, write W_eff) in the same run; prints ms, GB/s, GFLOP/s and merge/copy throughput.
 * - CPU: the CPU path's merge backend (`createMergeBackend()`, lora/merge-fast) on the same layers.
 * Each figure is the median of --runs timed passes after one warm-up.
 *
 * The GPU is Dawn in Node. Without a GPU that is SwiftShader, a correctness device and a slow one
 * (about 0.2 GFLOP/s), so the default run is a short sweep: one layer of each attention shape up
 * to 640x768, ranks 4/16/64/128. `--full` runs every layer (a real GPU's sweep; slow on the CPU).
 * Dawn needs LD_LIBRARY_PATH at process start, so this bench re-runs itself in a child process
 * with scripts/swiftshader.ts's environment; `--real-gpu` keeps the caller's Vulkan driver.
 *
 * usage: tsx bench/run.ts merge [--full] [--runs 3] [--ranks 4,16,64,128] [--adapters 1,3]
 *                               [--real-gpu] [--no-gpu] [--no-cpu] [--smoke]
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { createMergeBackend } from '../src/core/lora/merge-fast/create-backend.ts';
import type { MergeBackend } from '../src/core/lora/merge-fast/merge-backend.ts';
import {
  attentionLayers,
  distinctShapes,
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

/** The default sweep's largest layer: SwiftShader merges about 0.2 GFLOP/s. */
const DEFAULT_MAX_ELEMENTS = 640 * 768;

export interface MergeCase {
  rank: number;
  adapters: number;
}

/** The default short sweep (one layer per attention shape up to 640x768), or every LoRA layer. */
export function mergeLayers(full: boolean): Layer[] {
  const cfg = sd15UNetConfig();
  if (full) return loraLayers(cfg);
  return distinctShapes(attentionLayers(cfg)).filter((l) => l.out * l.in <= DEFAULT_MAX_ELEMENTS);
}

/** Multiply-adds of W0 + U·D over the layers at total rank R, counted as 2 FLOPs each. */
export function mergeFlopCount(layers: readonly Layer[], rank: number): number {
  return layers.reduce((s, l) => s + 2 * l.out * l.in * rank, 0);
}

/** Bytes a merge must move: read W0, U, D and write W_eff (float32). */
export function mergeBytes(layers: readonly Layer[], rank: number): number {
  return layers.reduce((s, l) => s + 4 * (2 * l.out * l.in + rank * (l.out + l.in)), 0);
}

/** Bytes the copy kernel moves: read W0, write W_eff. */
export function copyBytes(layers: readonly Layer[]): number {
  return layers.reduce((s, l) => s + 8 * l.out * l.in, 0);
}

/** Milliseconds per CPU merge pass over the layers at total rank R (one module after the other). */
export async function cpuMergeTimes(
  backend: MergeBackend,
  layers: readonly Layer[],
  rank: number,
  runs: number,
): Promise<number[]> {
  const maxW = Math.max(...layers.map((l) => l.out * l.in));
  const w0 = pseudoRandom(maxW, 1);
  const out = new Float32Array(maxW);
  const u = pseudoRandom(Math.max(...layers.map((l) => l.out * rank)), 2);
  const d = pseudoRandom(Math.max(...layers.map((l) => rank * l.in)), 3);
  return timeRuns(runs, async () => {
    for (const l of layers) {
      const n = l.out * l.in;
      await backend.mergeInto(
        w0.subarray(0, n),
        out.subarray(0, n),
        u.subarray(0, l.out * rank),
        d.subarray(0, rank * l.in),
        {
          out: l.out,
          in: l.in,
          rank,
        },
      );
    }
  });
}

const list = (text: string) => positiveIntegers(text, 'merge');

const gbps = (bytes: number, t: number) => (bytes / 1e6 / t).toFixed(2);
const gflops = (flops: number, t: number) => (flops / 1e6 / t).toFixed(2);

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      full: { type: 'boolean', default: false },
      runs: { type: 'string', default: '3' },
      ranks: { type: 'string', default: '4,16,64,128' },
      adapters: { type: 'string', default: '1,3' },
      'real-gpu': { type: 'boolean', default: false },
      'no-gpu': { type: 'boolean', default: false },
      'no-cpu': { type: 'boolean', default: false },
      smoke: { type: 'boolean', default: false },
    },
  });
  const wantGpu = !values['no-gpu'];
  if (wantGpu && !isGpuChild()) return runInGpuChild('merge', args, values['real-gpu']);

  // --smoke: a 7x5 layer, two cases, one run: checks that the bench still runs (tests/unit/bench-smoke).
  const runs = values.smoke ? 1 : Number(values.runs);
  const layers = values.smoke ? [{ path: 'smoke', out: 7, in: 5, shape: [7, 5] }] : mergeLayers(values.full);
  const cases: MergeCase[] = values.smoke
    ? [
        { rank: 2, adapters: 1 },
        { rank: 2, adapters: 3 },
      ]
    : list(values.ranks).flatMap((rank) => list(values.adapters).map((adapters) => ({ rank, adapters })));
  const what = values.smoke
    ? 'smoke test'
    : values.full
      ? 'every linear and conv of SD1.5'
      : 'one per attention shape up to 640x768';

  console.log(`bench merge: ${machineLine()}`);
  const elements = layers.reduce((s, l) => s + l.out * l.in, 0);
  console.log(
    `layers: ${layers.length} (${(elements / 1e6).toFixed(2)} M weights, ${what}), float32, median of ${runs} runs`,
  );

  let gpu: { device: GPUDevice; description: string } | undefined;
  let gpuTimes: typeof import('./merge-gpu.ts').gpuMergeTimes | undefined;
  if (wantGpu) {
    await registerRawImports();
    const mod = await import('./merge-gpu.ts');
    gpu = await mod.benchDevice();
    gpuTimes = mod.gpuMergeTimes;
    console.log(`GPU: ${gpu.description}`);
  }
  let cpu: MergeBackend | undefined;
  if (!values['no-cpu']) {
    cpu = await createMergeBackend({ threads: availableParallelism() });
    console.log(`CPU backend: ${cpu.name}, ${availableParallelism()} threads`);
  }

  console.log(
    row([
      'rank',
      'adapters',
      'R',
      'GPU merge',
      'GPU copy (same W bytes)',
      'merge GB/s',
      'copy GB/s',
      'merge GFLOP/s',
      'merge / copy throughput',
      'CPU merge',
      'CPU GFLOP/s',
    ]),
  );
  console.log(row(Array(11).fill('---')));
  try {
    for (const c of cases) {
      const R = c.rank * c.adapters;
      const flops = mergeFlopCount(layers, R);
      const cells: (string | number)[] = [c.rank, c.adapters, R];
      if (gpu && gpuTimes) {
        const t = await gpuTimes(gpu.device, layers, R, runs);
        const m = median(t.mergeMs);
        const k = median(t.copyMs);
        cells.push(
          ms(m),
          ms(k),
          gbps(mergeBytes(layers, R), m),
          gbps(copyBytes(layers), k),
          gflops(flops, m),
          `${(k / m).toFixed(2)}x`,
        );
      } else {
        cells.push('-', '-', '-', '-', '-', '-');
      }
      if (cpu) {
        const m = median(await cpuMergeTimes(cpu, layers, R, runs));
        cells.push(ms(m), gflops(flops, m));
      } else {
        cells.push('-', '-');
      }
      console.log(row(cells));
    }
  } finally {
    await cpu?.dispose();
    gpu?.device.destroy();
  }
  console.log(`load average at end: ${loadAverage()}`);
}
