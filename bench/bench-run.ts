/**
 * What every bench of this folder prints and measures the same way: the machine and its load, the
 * median of repeated runs, deterministic random data, and the LoRA-targetable SD1.5 layers.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseUNetConfig, type UNetConfig } from '../src/core/graph/config/unet-config.ts';
import { unetInventory } from '../src/core/graph/config/unet-inventory.ts';

/**
 * The device kit's bundle of bench/run.ts (scripts/devkit.ts) sets this to its own path at start:
 * its `?raw` imports are inlined, and GPU children re-run the bundle instead of run.ts.
 */
const BUNDLE = process.env.LORAFUSE_BENCH_BUNDLE || undefined;
/** tests/fixtures, or the copy the device kit carries (LORAFUSE_BENCH_FIXTURES, set by its bundle). */
const FIXTURES = process.env.LORAFUSE_BENCH_FIXTURES || join(import.meta.dirname, '..', 'tests', 'fixtures');

export const SD15_UNET_CONFIG = join(FIXTURES, 'configs', 'sd15', 'unet', 'config.json');

const RUNNER = BUNDLE ?? join(import.meta.dirname, 'run.ts');
const RAW_HOOK = join(import.meta.dirname, '..', 'bin', 'raw-import-hook.js');
/** Set in the child process that runs with the GPU environment. */
const GPU_CHILD_ENV = 'LORAFUSE_BENCH_GPU_CHILD';

/** Whether this process is the GPU child of `runInGpuChild`. */
export function isGpuChild(): boolean {
  return process.env[GPU_CHILD_ENV] === '1';
}

/**
 * Re-runs bench `bench` in a child whose environment Dawn reads at start (SwiftShader unless
 * `realGpu`: then the caller's Vulkan driver). Throws when the child fails.
 */
export async function runInGpuChild(bench: string, args: string[], realGpu: boolean): Promise<void> {
  if (!realGpu) {
    const { prepareSwiftShaderEnv } = await import('../scripts/swiftshader.ts');
    await prepareSwiftShaderEnv();
  }
  const r = spawnSync(process.execPath, [...process.execArgv, RUNNER, bench, ...args], {
    stdio: 'inherit',
    env: { ...process.env, [GPU_CHILD_ENV]: '1' },
  });
  if (r.status !== 0) {
    throw new Error(`bench ${bench}: the GPU child process failed (exit ${r.status ?? r.signal ?? r.error})`);
  }
}

/** `?raw` WGSL imports, as Vite and vitest give them; call before the kernels load (a bundle has them inlined). */
export async function registerRawImports(): Promise<void> {
  if (BUNDLE) return;
  const { register } = await import('node:module');
  register(`file://${RAW_HOOK}`);
}

/**
 * The SD1.5 UNet config, `block_out_channels` times `widthScale` (1: the real model), rounded to
 * multiples of 32 (GroupNorm's 32 groups).
 */
export function sd15UNetConfig(widthScale = 1): UNetConfig {
  const json = JSON.parse(readFileSync(SD15_UNET_CONFIG, 'utf8')) as Record<string, unknown>;
  if (widthScale !== 1) {
    const channels = json.block_out_channels as number[];
    json.block_out_channels = channels.map((c) => Math.max(32, Math.round((c * widthScale) / 32) * 32));
  }
  return parseUNetConfig(json, SD15_UNET_CONFIG);
}

/** A LoRA-targetable layer, as the merge sees it: W is [out, in] (a conv's in = in_ch*kh*kw). */
export interface Layer {
  path: string;
  out: number;
  in: number;
  /** The weight's own shape ([out, in] or a conv's [out, in_ch, kh, kw]). */
  shape: readonly number[];
}

const ATTENTION_PROJECTION = /\.attn[12]\.(to_q|to_k|to_v|to_out\.0)$/;

/** Every linear and conv layer of the UNet (what LoRA and LoCon files target), in model order. */
export function loraLayers(cfg: UNetConfig): Layer[] {
  return unetInventory(cfg)
    .modules.filter((m) => m.kind === 'linear' || m.kind === 'conv')
    .map((m) => ({
      path: m.path,
      out: m.weight[0]!,
      in: m.weight.slice(1).reduce((a, b) => a * b, 1),
      shape: m.weight,
    }));
}

/** The attention projections (to_q/k/v/out.0 of attn1 and attn2): 128 layers in SD1.5. */
export function attentionLayers(cfg: UNetConfig): Layer[] {
  return loraLayers(cfg).filter((l) => ATTENTION_PROJECTION.test(l.path));
}

/** One layer of each distinct [out, in], in model order. */
export function distinctShapes(layers: readonly Layer[]): Layer[] {
  const seen = new Set<string>();
  return layers.filter((l) => {
    const k = `${l.out}x${l.in}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return Number.NaN;
  return n % 2 === 1 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

/** Runs `body` `runs` times (after `warmup` untimed runs); milliseconds of each timed run. */
export async function timeRuns(
  runs: number,
  body: () => Promise<void> | void,
  warmup = 1,
): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await body();
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await body();
    out.push(performance.now() - t);
  }
  return out;
}

/** Deterministic values in [-scale, scale): speed does not depend on them, only finiteness does. */
export function pseudoRandom(n: number, seed: number, scale = 0.05): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 4294967296 - 0.5) * 2 * scale;
  }
  return out;
}

/** A comma-separated option (`--ranks 4,16,64`) as positive integers; `bench` names the bench in the error. */
export function positiveIntegers(text: string, bench: string): number[] {
  return text.split(',').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new Error(`bench ${bench}: '${s}' is not a positive integer`);
    return n;
  });
}

export function loadAverage(): string {
  return loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');
}

/** `nproc`, CPU model, Node version and load: the header of every bench's output. */
export function machineLine(): string {
  const model = cpus()[0]?.model ?? 'unknown CPU';
  return `machine: ${availableParallelism()} x "${model}", Node ${process.version}, load average ${loadAverage()}`;
}

export function ms(x: number): string {
  return x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(x < 10 ? 2 : 1)} ms`;
}

/** A markdown table row. */
export function row(cells: readonly (string | number)[]): string {
  return `| ${cells.join(' | ')} |`;
}
