/**
 * The GPU half of bench/merge.ts: a Dawn device in Node, and one timed pass of the merge-lora
 * kernel over a list of layers against the copy kernel moving the same weight bytes. Imported
 * only once `?raw` imports work (vitest, or bench/merge.ts after it registers the hook).
 */
import { create, globals } from 'webgpu';
import { createDevice } from '../src/core/gpu/device.ts';
import { submitEncoders } from '../src/core/gpu/kernel.ts';
import { copyWords } from '../src/core/gpu/kernels/copy/copy.ts';
import { mergeLora } from '../src/core/gpu/kernels/merge-lora/merge-lora.ts';
import { createStorageBuffer } from '../src/core/gpu/storage-buffer.ts';
import { type Layer, pseudoRandom, timeRuns } from './bench-run.ts';

/** Dawn instances must stay referenced while their device lives (a collected one aborts Node). */
const instances: GPU[] = [];

export async function benchDevice(): Promise<{ device: GPUDevice; description: string }> {
  Object.assign(globalThis, globals);
  const gpu = create([]) as unknown as GPU;
  instances.push(gpu);
  const { device, status } = await createDevice(gpu, { label: 'bench' });
  const a = status.adapter;
  const description = [a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' / ');
  return { device, description: description || 'unnamed adapter' };
}

export interface GpuMergeTimes {
  /** Milliseconds per pass over all layers (merge-lora, every layer at total rank R). */
  mergeMs: number[];
  /** Milliseconds per pass of the copy kernel over the same W bytes. */
  copyMs: number[];
}

/**
 * Times `runs` passes (after one warm-up) of W_eff = W0 + U diag(s) D for every layer at total
 * rank `rank` (several adapters are one launch with their ranks concatenated), float32, and the
 * same number of copy-kernel passes moving each layer's W (read W0, write W_eff). One command
 * buffer per pass, timed from encoding to `onSubmittedWorkDone`.
 */
export async function gpuMergeTimes(
  device: GPUDevice,
  layers: readonly Layer[],
  rank: number,
  runs: number,
): Promise<GpuMergeTimes> {
  const maxW = Math.max(...layers.map((l) => l.out * l.in));
  const maxU = Math.max(...layers.map((l) => l.out * rank));
  const maxD = Math.max(...layers.map((l) => rank * l.in));
  const buf = (label: string, n: number, seed: number) =>
    createStorageBuffer(device, { label: `bench-merge:${label}`, data: pseudoRandom(n, seed) });
  const w0 = buf('w0', maxW, 1);
  const wEff = createStorageBuffer(device, { label: 'bench-merge:w_eff', byteLength: maxW * 4 });
  const up = buf('up', maxU, 2);
  const down = buf('down', maxD, 3);
  const scale = buf('scale', rank, 4);
  device.pushErrorScope('validation');
  let times: GpuMergeTimes;
  try {
    const copyMs = await timeRuns(runs, () =>
      pass(device, layers, rank, { w0, wEff, up, scale, down }, 'copy'),
    );
    const mergeMs = await timeRuns(runs, () =>
      pass(device, layers, rank, { w0, wEff, up, scale, down }, 'merge'),
    );
    times = { mergeMs, copyMs };
  } finally {
    for (const b of [w0, wEff, up, down, scale]) b.destroy();
  }
  const error = await device.popErrorScope();
  if (error) throw new Error(`bench merge: GPU validation error: ${error.message}`);
  return times;
}

interface Buffers {
  w0: GPUBuffer;
  wEff: GPUBuffer;
  up: GPUBuffer;
  scale: GPUBuffer;
  down: GPUBuffer;
}

/** One command buffer: every layer merged (or copied), submitted and waited for. */
async function pass(
  device: GPUDevice,
  layers: readonly Layer[],
  rank: number,
  b: Buffers,
  kind: 'merge' | 'copy',
): Promise<void> {
  const encoder = device.createCommandEncoder({ label: `bench-${kind}` });
  for (const l of layers) {
    if (kind === 'merge') {
      await mergeLora(device, {
        module: l.path,
        dtype: 'f32',
        outFeatures: l.out,
        inFeatures: l.in,
        rank,
        ...b,
        encoder,
      });
    } else {
      await copyWords(device, { module: l.path, words: l.out * l.in, src: b.w0, dst: b.wEff, encoder });
    }
  }
  submitEncoders(device, [encoder]);
  await device.queue.onSubmittedWorkDone();
}
