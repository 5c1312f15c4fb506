/**
 * How fast is one UNet forward on the CPU path (onnxruntime-web wasm in Node, float32, weights as
 * graph inputs), and what does setting the weights cost?
 *
 * Runs, in one process: a single MatMul with its right operand as a weight input (the baseline:
 * the GFLOP/s the wasm backend reaches on this machine), a JS copy of all weight bytes (the
 * baseline for moving weights), the tiny-sd15 UNet (8x8 latents), and an SD1.5-shaped UNet (the
 * real SD1.5 config with `block_out_channels` times --scale, at --latent x --latent) with random
 * weights. Prints each forward's time, its estimated GFLOP/s, and ratios to the baselines.
 *
 * Defaults: full SD1.5 widths at 32x32 latents (256 px), the largest that runs in about a minute
 * on 2 cores; full SD1.5 at 64x64 is estimated from the measured rate.
 *
 * usage: tsx bench/run.ts unet [--scale 1] [--latent 32] [--runs 1] [--threads 1] [--batch 1]
 */
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-web';
import { parseUNetConfig } from '../src/core/graph/config/unet-config.ts';
import { GraphBuilder, type GraphDef } from '../src/core/graph/dsl/builder.ts';
import { matmul } from '../src/core/graph/dsl/ops.ts';
import { buildUNetGraph } from '../src/core/graph/nets/unet.ts';
import { NetworkSession } from '../src/core/graph/runner/session.ts';
import { pseudoRandom } from './bench-run.ts';
import { unetFlops } from './unet-flops.ts';

const FIXTURES = join(import.meta.dirname, '..', 'tests', 'fixtures');

interface Measured {
  name: string;
  params: number;
  createMs: number;
  setWeightsMs: number;
  firstRunMs: number;
  runMs: number;
  flops: number;
}

function seconds(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function measure(
  name: string,
  def: GraphDef,
  inputs: Record<string, ort.Tensor>,
  flops: number,
  runs: number,
): Promise<Measured> {
  const weights = def.weights.map((w, i) => {
    const n = w.shape.reduce((a, b) => a * b, 1);
    return new ort.Tensor('float32', pseudoRandom(n, i + 1), [...w.shape]);
  });
  let t = performance.now();
  const session = await NetworkSession.create(def);
  const createMs = performance.now() - t;
  t = performance.now();
  for (const [i, w] of def.weights.entries()) session.setWeight(w.name, weights[i]!);
  const setWeightsMs = performance.now() - t;
  t = performance.now();
  const first = await session.run(inputs);
  const firstRunMs = performance.now() - t;
  for (const v of Object.values(first)) {
    if (!(v.data as Float32Array).every(Number.isFinite)) throw new Error(`${name}: non-finite output`);
  }
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    t = performance.now();
    await session.run(inputs);
    times.push(performance.now() - t);
  }
  await session.release();
  if (times.length === 0) times.push(firstRunMs);
  const params = weights.reduce((s, w) => s + w.size, 0);
  return { name, params, createMs, setWeightsMs, firstRunMs, runMs: median(times), flops };
}

function unetCase(configJson: object, latent: number, batch: number, label: string) {
  const cfg = parseUNetConfig(configJson, label);
  const def = buildUNetGraph(cfg);
  const c = cfg.inChannels;
  const cross = cfg.crossAttentionDim[0]!;
  const inputs: Record<string, ort.Tensor> = {
    sample: new ort.Tensor('float32', pseudoRandom(batch * c * latent * latent, 99), [
      batch,
      c,
      latent,
      latent,
    ]),
    timestep: new ort.Tensor('float32', Float32Array.of(500), [1]),
    encoder_hidden_states: new ort.Tensor('float32', pseudoRandom(batch * 77 * cross, 98), [
      batch,
      77,
      cross,
    ]),
  };
  const flops = batch * unetFlops(def.weights, latent, cfg.blockOutChannels.length);
  return { def, inputs, flops };
}

/** `a @ b` with `b` a weight input (as our networks run) or a constant initializer (prepackable). */
function matmulCase(m: number, k: number, n: number, bAs: 'input' | 'initializer') {
  const g = new GraphBuilder('MatMul');
  const a = g.input('a', 'float32', [m, k]);
  const b =
    bAs === 'input' ? g.weight('b', [k, n]) : g.constant('float32', [k, n], [...pseudoRandom(k * n, 5)]);
  g.output(matmul(g, a, b), 'y');
  const inputs = { a: new ort.Tensor('float32', pseudoRandom(m * k, 7), [m, k]) };
  return { def: g.finish(), inputs, flops: 2 * m * k * n };
}

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      scale: { type: 'string', default: '1' },
      latent: { type: 'string', default: '32' },
      runs: { type: 'string', default: '1' },
      threads: { type: 'string', default: '1' },
      batch: { type: 'string', default: '1' },
    },
  });
  const scale = Number(values.scale);
  const latent = Number(values.latent);
  const runs = Number(values.runs);
  const batch = Number(values.batch);
  ort.env.wasm.numThreads = Number(values.threads);

  const load = () =>
    loadavg()
      .map((x) => x.toFixed(1))
      .join(' ');
  console.log(
    `bench unet: onnxruntime-web ${ort.env.versions.web} wasm, ${ort.env.wasm.numThreads} thread(s), Node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? '?'}, load average ${load()}`,
  );

  const results: Measured[] = [];
  const mm = matmulCase(4096, 640, 640, 'input');
  results.push(
    await measure('MatMul 4096x640 @ 640x640, B a weight input (baseline)', mm.def, mm.inputs, mm.flops, 3),
  );
  const mmInit = matmulCase(4096, 640, 640, 'initializer');
  const initR = await measure(
    'MatMul 4096x640 @ 640x640, B an initializer',
    mmInit.def,
    mmInit.inputs,
    mmInit.flops,
    3,
  );

  const tinyJson = JSON.parse(readFileSync(join(FIXTURES, 'models/tiny-sd15/unet/config.json'), 'utf8'));
  const tiny = unetCase(tinyJson, 8, batch, 'tiny-sd15 unet');
  results.push(
    await measure(`tiny-sd15 UNet, ${8}x${8} latents, batch ${batch}`, tiny.def, tiny.inputs, tiny.flops, 5),
  );

  const sd15Json = JSON.parse(readFileSync(join(FIXTURES, 'configs/sd15/unet/config.json'), 'utf8'));
  const channels = (sd15Json.block_out_channels as number[]).map((ch) => Math.round(ch * scale));
  const sd = unetCase({ ...sd15Json, block_out_channels: channels }, latent, batch, 'sd15-shaped unet');
  const sdName = `SD1.5-shaped UNet (channels ${channels.join('/')}), ${latent}x${latent} latents, batch ${batch}`;
  results.push(await measure(sdName, sd.def, sd.inputs, sd.flops, runs));

  const [base, tinyR, sdR] = results as [Measured, Measured, Measured];
  results.splice(1, 0, initR);
  const baseRate = base.flops / base.runMs;
  const weightBytes = sdR.params * 4;
  const src = pseudoRandom(sdR.params, 3);
  const dst = new Float32Array(sdR.params);
  dst.set(src); // first touch of fresh pages is not what a weight copy costs; time the second
  const t = performance.now();
  dst.set(src);
  const copyMs = performance.now() - t;

  console.log('');
  for (const r of results) {
    const rate = r.flops / r.runMs / 1e6;
    console.log(`${r.name}`);
    console.log(
      `  params ${(r.params / 1e6).toFixed(2)} M (${(r.params / 2.5e5).toFixed(1)} MB f32), est. ${(r.flops / 1e9).toFixed(2)} GFLOP`,
    );
    console.log(
      `  session create ${seconds(r.createMs)}, set weights ${seconds(r.setWeightsMs)}, first run ${seconds(r.firstRunMs)}, run ${seconds(r.runMs)} (median)`,
    );
    console.log(
      `  ${rate.toFixed(2)} GFLOP/s = ${(rate / (baseRate / 1e6)).toFixed(2)}x the MatMul baseline; run = ${(r.runMs / tinyR.runMs).toFixed(1)}x tiny`,
    );
  }
  console.log('');
  console.log(
    `Copying all ${(weightBytes / 1e6).toFixed(0)} MB of SD1.5-shaped weights once in JS: ${seconds(copyMs)} = ${(copyMs / sdR.runMs).toFixed(3)}x its forward; first run - steady run = ${seconds(sdR.firstRunMs - sdR.runMs)}.`,
  );
  const fullFlops = unetFlops(
    buildUNetGraph(parseUNetConfig({ ...sd15Json }, 'sd15 unet')).weights,
    64,
    channels.length,
  );
  console.log(`load average at the end: ${load()} (the ratios are measured in this run, under this load)`);
  console.log(
    `Full SD1.5 UNet at 64x64: est. ${(fullFlops / 1e9).toFixed(0)} GFLOP per forward, ~${seconds((batch * fullFlops) / (sdR.flops / sdR.runMs))} at the SD1.5-shaped rate.`,
  );
}
