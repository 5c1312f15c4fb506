/**
 * Where does the forward after a weight change lose time? (bench/step.ts's unexplained part.)
 * Same setup as step.ts; each probe changes one thing, then times the next UNet forward, alternating
 * with a plain forward (nothing changed) so both see the same load; "ratio" = after / plain.
 * "of which": the merge backend's products (mergeMany: the deltas' first computation, or every
 * step without the delta cache) and the delta cache's combines (`W0 + c·dW`).
 * usage: node --expose-gc --import tsx bench/step-profile.ts [--threads N] [--scale 0.2] [--latent 32] [--rank 64] [--runs 3]
 *        [--delta-cache-mib 512]
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-web';
import { buildUNetGraph } from '../src/core/graph/nets/unet.ts';
import { NetworkSession } from '../src/core/graph/runner/session.ts';
import { createMergeBackend } from '../src/core/lora/merge-fast/create-backend.ts';
import { loraTarget } from '../src/core/lora/target.ts';
import { sessionBaseSource, sessionSink } from '../src/core/pipeline/adapters/session-sink.ts';
import { AdapterManager } from '../src/core/pipeline/adapters.ts';
import { attentionLayers, loadAverage, median, ms, pseudoRandom, sd15UNetConfig } from './bench-run.ts';
import { randomLoraFile } from './switch.ts';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    threads: { type: 'string' },
    scale: { type: 'string', default: '0.2' },
    latent: { type: 'string', default: '32' },
    rank: { type: 'string', default: '64' },
    runs: { type: 'string', default: '3' },
    'delta-cache-mib': { type: 'string' },
  },
});
const cfg = sd15UNetConfig(Number(values.scale));
const latent = Number(values.latent);
const runs = Number(values.runs);
const merge = await createMergeBackend({
  threads: Number(values.threads ?? availableParallelism()),
  ...(values['delta-cache-mib'] !== undefined
    ? { deltaCacheBytes: Number(values['delta-cache-mib']) * 2 ** 20 }
    : {}),
});
let mergeManyMs = 0;
let combineMs = 0;
const inner = merge.mergeMany.bind(merge);
merge.mergeMany = async (jobs) => {
  const t = performance.now();
  await inner(jobs);
  mergeManyMs += performance.now() - t;
};
const cache = merge.deltaCache;
if (cache) {
  const combine = cache.combine.bind(cache);
  cache.combine = (out, w0, terms) => {
    const t = performance.now();
    combine(out, w0, terms);
    combineMs += performance.now() - t;
  };
}
const def = buildUNetGraph(cfg);
const session = await NetworkSession.create(def);
def.weights.forEach((w, i) => {
  const n = w.shape.reduce((a, b) => a * b, 1);
  session.setWeight(w.name, new ort.Tensor('float32', pseudoRandom(n, i + 1), [...w.shape]));
});
const sessions = { unet: session };
const manager = new AdapterManager({
  target: loraTarget('sd15-shaped (bench)', { unet: cfg }),
  base: sessionBaseSource(sessions),
  sinks: [sessionSink(sessions)],
  merge,
});
const layers = attentionLayers(cfg);
const name = await manager.loadLoraWeights(randomLoraFile(layers, Number(values.rank), 1, 'scheduled'));
const c = cfg.inChannels;
const cross = cfg.crossAttentionDim[0]!;
const inputs = {
  sample: new ort.Tensor('float32', pseudoRandom(c * latent * latent, 99, 1), [1, c, latent, latent]),
  timestep: new ort.Tensor('float32', Float32Array.of(500), [1]),
  encoder_hidden_states: new ort.Tensor('float32', pseudoRandom(77 * cross, 98, 1), [1, 77, cross]),
};
const loraWeights = layers.map((l) => `${l.path}.weight`).filter((n) => session.getWeight(n));
const bytes = loraWeights.reduce((a, n) => a + (session.getWeight(n)!.data as Float32Array).byteLength, 0);
console.log(`load ${loadAverage()}; ${loraWeights.length} LoRA weights, ${(bytes / 2 ** 20).toFixed(1)} MiB`);

/** Alternates a plain forward and (change, forward), so both see the same machine load. */
async function probe(label: string, before: () => Promise<void> | void): Promise<void> {
  await before();
  await session.run(inputs);
  const pre: number[] = [];
  const fwd: number[] = [];
  const plain: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await session.run(inputs);
    plain.push(performance.now() - t);
    const t0 = performance.now();
    await before();
    const t1 = performance.now();
    await session.run(inputs);
    pre.push(t1 - t0);
    fwd.push(performance.now() - t1);
  }
  const ratio = median(fwd) / median(plain);
  console.log(
    `${label.padEnd(46)} change ${ms(median(pre)).padStart(8)}  forward after ${ms(median(fwd)).padStart(8)}  plain ${ms(median(plain)).padStart(8)}  ratio ${ratio.toFixed(3)}`,
  );
}

let k = 0;
const ws = [0.9, 0.5, 0.3, 0.7];
await probe('same arrays, new ort.Tensor objects', () => {
  for (const n of loraWeights) {
    const t = session.getWeight(n)!;
    session.setWeight(n, new ort.Tensor('float32', t.data as Float32Array, t.dims));
  }
});
await probe('new arrays (copies), new tensors', () => {
  for (const n of loraWeights) {
    const t = session.getWeight(n)!;
    session.setWeight(n, new ort.Tensor('float32', new Float32Array(t.data as Float32Array), t.dims));
  }
});
await probe('garbage of the same size (no weight change)', () => {
  const keep: Float32Array[] = [];
  for (const n of loraWeights)
    keep.push(new Float32Array((session.getWeight(n)!.data as Float32Array).length));
  (globalThis as { __keep?: unknown }).__keep = keep;
});
await probe('in-place rewrite of the same arrays', () => {
  for (const n of loraWeights) {
    const a = session.getWeight(n)!.data as Float32Array;
    a[0] = a[0]! + 1e-7;
  }
});
mergeManyMs = 0;
combineMs = 0;
await probe('setAdapters (new weight each time)', async () => {
  await manager.setAdapters(name, ws[k++ % ws.length]!);
});
console.log(
  `  of which mergeMany: ${ms(mergeManyMs / (runs + 1))}, delta combine: ${ms(combineMs / (runs + 1))} per setAdapters` +
    (cache
      ? ` (delta cache: ${cache.size} deltas, ${cache.bases} resident bases, ${(cache.bytes / 2 ** 20).toFixed(1)} MiB)`
      : ' (no delta cache)'),
);
if (typeof globalThis.gc === 'function') {
  await probe('setAdapters + global.gc()', async () => {
    await manager.setAdapters(name, ws[k++ % ws.length]!);
    globalThis.gc!();
  });
}
console.log(`load ${loadAverage()}`);
await merge.dispose();
await session.release();
