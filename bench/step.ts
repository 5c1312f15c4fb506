/**
 * What does a per-step LoRA schedule cost per denoising step on the CPU path?
 *
 * An SD1.5-shaped UNet (the real config, `block_out_channels` times --scale; default 0.2, i.e.
 * 64/128/256/256, because a full-width forward takes about 47 s here) with random weights runs in
 * a `NetworkSession` (onnxruntime-web wasm). A random rank-64 LoRA on every attention projection
 * (PEFT keys, built in memory) is loaded through the adapter manager, whose sink writes the
 * effective weights into the session, as the CLI does. Then, in the same run, in rounds of three:
 * - plain: one UNet forward per step, LoRA at a constant weight (the baseline);
 * - scheduled: `setAdapters` with the step's weight of a ramp schedule (0.9 -> 0.1; each step a
 *   new weight), then the forward: what `onStep` does for a per-step schedule (every LoRA layer is
 *   re-merged each step). The merge backend's delta cache (merge-fast/delta-cache.ts) holds
 *   `s·up·down` per module after the first step, so a step is `W0 + c·dW` per module;
 * - scheduled, no cache: the same with the cache hidden from the merge (each step a rank-64
 *   product per module, as before the cache; same numbers).
 * The three alternate (after one warm-up of each), so a change in the machine's load during the
 * run hits all alike: on a shared machine the load moves a forward by 30% and more within a
 * minute. Prints the median step times, the median `setAdapters` time, the median forward right
 * after a weight change, and the overhead ratios. Goal: schedule overhead <= 3% of a step.
 * bench/step-profile.ts times the forward after each kind of weight change separately.
 *
 * usage: tsx bench/run.ts step [--scale 0.2] [--latent 32] [--rank 64] [--runs 5] [--full] [--merge-threads N]
 *                              [--delta-cache-mib 512]
 *   --full: full widths (--scale 1) at 32x32 latents (several minutes).
 *   --delta-cache-mib 0: no cache (only the plain and no-cache rows).
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-web';
import type { UNetConfig } from '../src/core/graph/config/unet-config.ts';
import { buildUNetGraph } from '../src/core/graph/nets/unet.ts';
import { NetworkSession } from '../src/core/graph/runner/session.ts';
import { createMergeBackend } from '../src/core/lora/merge-fast/create-backend.ts';
import type { MergeBackend } from '../src/core/lora/merge-fast/merge-backend.ts';
import { loraTarget } from '../src/core/lora/target.ts';
import { sessionBaseSource, sessionSink } from '../src/core/pipeline/adapters/session-sink.ts';
import { AdapterManager } from '../src/core/pipeline/adapters.ts';
import { rampSchedule, scheduleValues } from '../src/core/pipeline/schedule.ts';
import {
  attentionLayers,
  loadAverage,
  machineLine,
  median,
  ms,
  pseudoRandom,
  sd15UNetConfig,
} from './bench-run.ts';
import { randomLoraFile } from './switch.ts';

export interface ScheduledTimes {
  /** ms per step with a per-step schedule (setAdapters + forward). */
  stepMs: number[];
  /** ms of each scheduled step's setAdapters. */
  setAdaptersMs: number[];
  /** ms of each scheduled step's forward (right after the weight change). */
  forwardAfterChangeMs: number[];
}

export interface StepTimes {
  /** ms per step without a schedule (forward only). */
  plainMs: number[];
  /** With the delta cache (absent when the backend has none). */
  cached: ScheduledTimes | null;
  /** With the delta cache hidden from the merge. */
  uncached: ScheduledTimes;
  loraLayers: number;
}

const emptyTimes = (): ScheduledTimes => ({ stepMs: [], setAdaptersMs: [], forwardAfterChangeMs: [] });

/** Builds the UNet session and the manager with one rank-`rank` LoRA, then times plain and scheduled steps. */
export async function stepTimes(
  cfg: UNetConfig,
  latent: number,
  rank: number,
  runs: number,
  merge: MergeBackend,
): Promise<StepTimes> {
  const def = buildUNetGraph(cfg);
  const session = await NetworkSession.create(def);
  try {
    def.weights.forEach((w, i) => {
      const n = w.shape.reduce((a, b) => a * b, 1);
      session.setWeight(w.name, new ort.Tensor('float32', pseudoRandom(n, i + 1), [...w.shape]));
    });
    const sessions = { unet: session };
    // The manager reads `deltaCache` at each merge: hiding it gives the cache-less path.
    let useCache = true;
    const cache = merge.deltaCache;
    const switched: MergeBackend = {
      name: merge.name,
      mergeInto: merge.mergeInto.bind(merge),
      mergeMany: merge.mergeMany.bind(merge),
      dispose: merge.dispose.bind(merge),
      ...(merge.scaledMerge ? { scaledMerge: true } : {}),
      get deltaCache() {
        return useCache ? cache : undefined;
      },
    };
    const manager = new AdapterManager({
      target: loraTarget('sd15-shaped (bench)', { unet: cfg }),
      base: sessionBaseSource(sessions),
      sinks: [sessionSink(sessions)],
      merge: switched,
    });
    const layers = attentionLayers(cfg);
    const name = await manager.loadLoraWeights(randomLoraFile(layers, rank, 1, 'scheduled'));

    const c = cfg.inChannels;
    const cross = cfg.crossAttentionDim[0]!;
    const inputs = {
      sample: new ort.Tensor('float32', pseudoRandom(c * latent * latent, 99, 1), [1, c, latent, latent]),
      timestep: new ort.Tensor('float32', Float32Array.of(500), [1]),
      encoder_hidden_states: new ort.Tensor('float32', pseudoRandom(77 * cross, 98, 1), [1, 77, cross]),
    };
    const weights = scheduleValues(rampSchedule(0.9, 0.1), runs + 1);
    let step = 0;
    const plain = async (): Promise<number> => {
      const t = performance.now();
      await session.run(inputs);
      return performance.now() - t;
    };
    const scheduled = async (withCache: boolean, into: ScheduledTimes | null): Promise<void> => {
      useCache = withCache;
      const t = performance.now();
      await manager.setAdapters(name, weights[step++ % weights.length]!);
      const t1 = performance.now();
      await session.run(inputs);
      const t2 = performance.now();
      if (!into) return;
      into.setAdaptersMs.push(t1 - t);
      into.forwardAfterChangeMs.push(t2 - t1);
      into.stepMs.push(t2 - t);
    };
    const cached = cache ? emptyTimes() : null;
    const uncached = emptyTimes();
    await plain();
    if (cache) await scheduled(true, null);
    await scheduled(false, null);
    const plainMs: number[] = [];
    for (let i = 0; i < runs; i++) {
      plainMs.push(await plain());
      if (cache) await scheduled(true, cached);
      await scheduled(false, uncached);
    }
    return { plainMs, cached, uncached, loraLayers: layers.length };
  } finally {
    await session.release();
  }
}

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      scale: { type: 'string' },
      latent: { type: 'string' },
      rank: { type: 'string', default: '64' },
      runs: { type: 'string', default: '5' },
      full: { type: 'boolean', default: false },
      'merge-threads': { type: 'string' },
      'delta-cache-mib': { type: 'string' },
    },
  });
  const scale = Number(values.scale ?? (values.full ? 1 : 0.2));
  const latent = Number(values.latent ?? 32);
  const rank = Number(values.rank);
  const runs = Number(values.runs);
  const cfg = sd15UNetConfig(scale);
  console.log(`bench step: ${machineLine()}`);
  console.log(
    'plain, scheduled (delta cache) and scheduled (no cache) steps alternate (one warm-up of each)',
  );
  const merge = await createMergeBackend({
    threads: Number(values['merge-threads'] ?? availableParallelism()),
    ...(values['delta-cache-mib'] !== undefined
      ? { deltaCacheBytes: Number(values['delta-cache-mib']) * 2 ** 20 }
      : {}),
  });
  try {
    const t = await stepTimes(cfg, latent, rank, runs, merge);
    const plain = median(t.plainMs);
    console.log(
      `UNet: SD1.5-shaped, block_out_channels [${cfg.blockOutChannels.join(', ')}], ${latent}x${latent} latents, batch 1, ` +
        `onnxruntime-web wasm 1 thread; LoRA rank ${rank} on ${t.loraLayers} attention projections, merge backend ${merge.name} (${values['merge-threads'] ?? availableParallelism()} threads); median of ${runs}`,
    );
    console.log(`step without schedule: ${ms(plain)} (runs: ${t.plainMs.map(ms).join(', ')})`);
    const report = (label: string, s: ScheduledTimes) => {
      const set = median(s.setAdaptersMs);
      console.log(`${label}:`);
      console.log(`  step: ${ms(median(s.stepMs))} (runs: ${s.stepMs.map(ms).join(', ')})`);
      console.log(`  setAdapters: ${ms(set)} (runs: ${s.setAdaptersMs.map(ms).join(', ')})`);
      console.log(
        `  forward right after a weight change: ${ms(median(s.forwardAfterChangeMs))} (runs: ${s.forwardAfterChangeMs.map(ms).join(', ')})`,
      );
      console.log(
        `  overhead: scheduled / plain = ${(median(s.stepMs) / plain).toFixed(3)}x; setAdapters / plain step = ${((100 * set) / plain).toFixed(1)}% (goal <= 3%)`,
      );
    };
    if (t.cached && merge.deltaCache) {
      const c = merge.deltaCache;
      report(
        `per-step schedule, delta cache (${c.size} deltas, ${(c.bytes / 2 ** 20).toFixed(1)} MiB of ${(c.budgetBytes / 2 ** 20).toFixed(0)} MiB; ${c.stats.hits} hits, ${c.stats.refused} refused)`,
        t.cached,
      );
    }
    report('per-step schedule, no delta cache (a rank-R product per module and step)', t.uncached);
  } finally {
    await merge.dispose();
  }
  console.log(`load average at end: ${loadAverage()}`);
}
