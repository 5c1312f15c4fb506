/**
 * How fast is the CPU LoRA merge (the switch to fused speed on the wasm path), against Diffusers?
 *
 * The job: W = W0 + U·D on all 128 attention projections of the full-size SD1.5 UNet (to_q, to_k,
 * to_v, to_out.0 of attn1/attn2 in the 16 transformer blocks; shapes from the inventory of
 * tests/fixtures/configs/sd15), rank 64, float32, in place (like `fuse_lora`). The peer figure:
 * Diffusers `fuse_lora` of the same LoRA on torch CPU, 2-core machine of this kind: 0.47 s
 * (goal: <= 1.5x that, 0.705 s).
 *
 * Each configuration runs in its own child process (ORT's wasm thread count is fixed per process):
 * - memcpy: copying the same W bytes once (a merge must at least read and write W: the floor);
 * - scalar: the JS oracle on one module of each distinct shape, extrapolated to all 128 by FLOPs;
 * - wasm-simd:T: our hand-assembled WASM SIMD kernel with T threads (multiply, then add);
 * - wasm-simd+fma:T: the same with relaxed SIMD's f32x4.relaxed_madd (default in Chrome 114+ and
 *   Node 22+; Node 20 needs --experimental-wasm-relaxed-simd, which the bench passes to that child);
 * - ort-wasm:T: onnxruntime-web's wasm Gemm (MLAS) with T threads.
 * Merge configurations do one warm-up pass, then --passes timed passes; the median is reported.
 * GFLOP/s counts 2·R multiply-adds per weight value (the add of W0 is not counted).
 *
 * usage: tsx bench/run.ts merge-cpu [--rank 64] [--passes 3] [--only wasm-simd:2,ort-wasm:1]
 */
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-web';
import { unetInventory } from '../src/core/graph/config/unet-inventory.ts';
import { attentionProjections, type Projection } from '../src/core/lora/merge-fast/attention-projections.ts';
import type { MergeBackend, MergeJob } from '../src/core/lora/merge-fast/merge-backend.ts';
import { createOrtWasmBackend } from '../src/core/lora/merge-fast/ort-wasm.ts';
import { mergeScalar } from '../src/core/lora/merge-fast/scalar.ts';
import { createWasmSimdBackend } from '../src/core/lora/merge-fast/wasm-simd.ts';
import { pseudoRandom, sd15UNetConfig } from './bench-run.ts';

const SELF = fileURLToPath(import.meta.url);
/** Diffusers on torch CPU, SD1.5, rank 64, 128 attention projections, float32, 2 cores (issue 5). */
const PEER = { fuse: 0.47, unfuse: 0.41, hotswap: 0.11, load: 0.55 };
const GOAL = 1.5;
const CONFIGS = [
  'memcpy',
  'scalar',
  'ort-wasm:1',
  'ort-wasm:2',
  'wasm-simd:1',
  'wasm-simd:2',
  'wasm-simd+fma:1',
  'wasm-simd+fma:2',
];
/** Node 20 validates relaxed SIMD (the kernel's fused multiply-add) only behind this flag. */
const RELAXED_SIMD_FLAG = '--experimental-wasm-relaxed-simd';

interface ChildResult {
  config: string;
  /** Seconds per pass (all 128 modules), measured or extrapolated. */
  passes: number[];
  extrapolated?: string;
  threads?: number;
  /** CPU seconds (user + system, all threads of the process) per pass. */
  cpu?: number[];
  /** Max |merged - scalar oracle| / max |oracle| on one 640x768 module, before timing. */
  check?: number;
  load: number[];
}

function projections(): Projection[] {
  return attentionProjections(unetInventory(sd15UNetConfig()));
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

function jobsFor(mods: readonly Projection[], rank: number): MergeJob[] {
  return mods.map((m, k) => {
    const w0 = pseudoRandom(m.out * m.in, 3 * k + 1, 0.05);
    return {
      w0,
      out: w0,
      u: pseudoRandom(m.out * rank, 3 * k + 2, 0.01),
      d: pseudoRandom(rank * m.in, 3 * k + 3, 0.01),
      shape: { out: m.out, in: m.in, rank },
      label: m.path,
    };
  });
}

/** Relative error of the backend against the scalar oracle on the first 640x768 module. */
async function checkAgainstScalar(
  backend: MergeBackend,
  jobs: readonly MergeJob[],
  rank: number,
): Promise<number> {
  const j = jobs.find((x) => x.shape.out === 640 && x.shape.in === 768) ?? jobs[0]!;
  const want = new Float32Array(j.w0.length);
  const got = new Float32Array(j.w0.length);
  mergeScalar({ ...j, out: want });
  await backend.mergeInto(j.w0, got, j.u, j.d, { ...j.shape, rank });
  let err = 0;
  let max = 0;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i]! - want[i]!));
    max = Math.max(max, Math.abs(want[i]!));
  }
  return err / max;
}

function matmulFlops(mods: readonly Projection[], rank: number): number {
  return mods.reduce((s, m) => s + 2 * rank * m.out * m.in, 0);
}

async function child(config: string, rank: number, passes: number): Promise<ChildResult> {
  const load = loadavg();
  const mods = projections();
  if (config === 'memcpy') {
    const src = mods.map((m, k) => pseudoRandom(m.out * m.in, k + 1, 0.05));
    const dst = mods.map((m) => new Float32Array(m.out * m.in));
    const times: number[] = [];
    for (let p = 0; p <= passes; p++) {
      const t0 = performance.now();
      src.forEach((s, k) => {
        dst[k]!.set(s);
      });
      if (p > 0) times.push((performance.now() - t0) / 1000);
    }
    return { config, passes: times, load };
  }
  if (config === 'scalar') {
    const seen = new Map<string, Projection>();
    for (const m of mods) if (!seen.has(`${m.out}x${m.in}`)) seen.set(`${m.out}x${m.in}`, m);
    const sample = [...seen.values()];
    const jobs = jobsFor(sample, rank);
    mergeScalar({ ...jobs[0]!, shape: { ...jobs[0]!.shape } }); // warm-up (JIT)
    const rate = new Map<string, number>();
    jobs.forEach((j, k) => {
      const t0 = performance.now();
      mergeScalar(j);
      rate.set(
        `${sample[k]!.out}x${sample[k]!.in}`,
        (performance.now() - t0) / 1000 / (j.shape.out * j.shape.in),
      );
    });
    const total = mods.reduce((s, m) => s + (rate.get(`${m.out}x${m.in}`) ?? 0) * m.out * m.in, 0);
    return {
      config,
      passes: [total],
      extrapolated: `measured once on one module of each of the ${sample.length} distinct shapes (${sample
        .map((m) => `${m.out}x${m.in}`)
        .join(', ')}), scaled by the count of each shape`,
      load,
    };
  }
  const [kind, t] = config.split(':');
  const threads = Number(t ?? 1);
  const backend =
    kind === 'ort-wasm'
      ? await createOrtWasmBackend({ numThreads: threads })
      : await createWasmSimdBackend({ threads, fma: kind === 'wasm-simd+fma' });
  const jobs = jobsFor(mods, rank);
  const check = await checkAgainstScalar(backend, jobs, rank);
  const times: number[] = [];
  const cpu: number[] = [];
  for (let p = 0; p <= passes; p++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await backend.mergeMany(jobs);
    const c = process.cpuUsage(c0);
    if (p > 0) {
      times.push((performance.now() - t0) / 1000);
      cpu.push((c.user + c.system) / 1e6);
    }
  }
  const used = (backend as { threads?: number }).threads ?? threads;
  await backend.dispose();
  return { config, passes: times, threads: used, cpu, check, load };
}

function fmtLoad(l: readonly number[]): string {
  return l.map((x) => x.toFixed(2)).join(' ');
}

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      rank: { type: 'string', default: '64' },
      passes: { type: 'string', default: '3' },
      only: { type: 'string' },
      child: { type: 'string' },
    },
  });
  const rank = Number(values.rank);
  const passes = Number(values.passes);
  if (values.child) {
    const r = await child(values.child, rank, passes);
    process.stdout.write(`RESULT ${JSON.stringify(r)}\n`);
    return;
  }
  const mods = projections();
  const params = mods.reduce((s, m) => s + m.out * m.in, 0);
  const flops = matmulFlops(mods, rank);
  const cpu = cpus();
  console.log(`merge-cpu: ${mods.length} attention projections of SD1.5, rank ${rank}, float32, in place`);
  console.log(
    `  ${(params / 1e6).toFixed(1)} M weights (${((params * 4) / 1e6).toFixed(0)} MB), ${(flops / 1e9).toFixed(2)} GFLOP`,
  );
  console.log(
    `  machine: ${cpu[0]?.model ?? '?'}, ${cpu.length} logical CPUs; node ${process.version}; onnxruntime-web ${ort.env.versions.web}`,
  );
  console.log(`  load average at start (1/5/15 min): ${fmtLoad(loadavg())}`);
  const configs = values.only ? values.only.split(',') : CONFIGS;
  const results: ChildResult[] = [];
  for (const c of configs) {
    const out = spawnSync(
      process.execPath,
      [
        ...process.execArgv,
        ...(c.includes('+fma') ? [RELAXED_SIMD_FLAG] : []),
        SELF,
        '--child',
        c,
        '--rank',
        String(rank),
        '--passes',
        String(passes),
      ],
      { encoding: 'utf8', maxBuffer: 1 << 24 },
    );
    const line = out.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    if (out.status !== 0 || !line) {
      console.log(`  ${c}: FAILED (exit ${out.status}) ${out.stderr.slice(-400)}`);
      continue;
    }
    results.push(JSON.parse(line.slice(7)) as ChildResult);
  }
  const base = results.find((r) => r.config === 'memcpy');
  const baseS = base ? median(base.passes) : Number.NaN;
  console.log('');
  const head = [
    'config',
    'thr',
    'median s',
    'passes (s)',
    'CPU s/pass',
    'GFLOP/s',
    'x memcpy',
    'x fuse 0.47 s',
    'rel err',
    'load at start',
  ];
  const widths = [16, 4, 9, 20, 11, 8, 9, 19, 9, 0];
  const row = (cells: string[]) => `  ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' ')}`;
  console.log(row(head));
  for (const r of results) {
    const s = median(r.passes);
    const merge = r.config !== 'memcpy';
    const vsPeer = s / PEER.fuse;
    console.log(
      row([
        r.config,
        String(r.threads ?? 1),
        s.toFixed(3),
        r.passes.map((x) => x.toFixed(2)).join(' '),
        r.cpu ? median(r.cpu).toFixed(3) : '-',
        merge ? (flops / s / 1e9).toFixed(2) : '-',
        (s / baseS).toFixed(1),
        merge ? `${vsPeer.toFixed(2)}${vsPeer <= GOAL ? ' (goal met)' : ''}` : '-',
        r.check === undefined ? '-' : r.check.toExponential(1),
        fmtLoad(r.load),
      ]),
    );
    if (r.extrapolated) console.log(`      (scalar: extrapolated, ${r.extrapolated})`);
  }
  console.log(`  load average at end: ${fmtLoad(loadavg())}`);
  console.log(
    `  goal: <= ${GOAL} x ${PEER.fuse} s = ${(GOAL * PEER.fuse).toFixed(3)} s (Diffusers peer: fuse ${PEER.fuse} s, unfuse ${PEER.unfuse} s, hotswap ${PEER.hotswap} s, load ${PEER.load} s)`,
  );
}

if (process.argv[1] && resolve(process.argv[1]) === SELF) await main(process.argv.slice(2));
