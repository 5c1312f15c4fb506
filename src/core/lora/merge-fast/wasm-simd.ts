/**
 * The `wasm-simd` backend: the hand-assembled kernel of `wasm-kernel.ts` on a WebAssembly memory
 * we own, with `threads - 1` helper threads (`thread-pool.ts`) sharing it; the calling thread
 * computes too. Jobs are laid out in groups of up to GROUP_BYTES: per job W0 is copied in (rows
 * padded to a multiple of 8 columns), D packed per panel of 8 columns, U per block of MR rows;
 * one kernel run (one message to each helper) adds U·D in place for the whole group, then the
 * rows are copied out; with helpers, the copies of the neighbouring groups overlap the run.
 * Padding only feeds padding outputs, so it is never cleared.
 *
 * Threads need shared memory: Node, or a cross-origin isolated page. Elsewhere the backend runs
 * on one thread and says so in `threads`.
 */
import { LorafuseError } from '../../../errors.ts';
import { checkJob, type MergeBackend, type MergeJob, type MergeShape } from './merge-backend.ts';
import { type Kernel, type KernelRun, runItems, ThreadPool } from './thread-pool.ts';
import { DEFAULT_MR, mergeKernelBytes, NR } from './wasm-kernel.ts';

export interface WasmSimdOptions {
  /** Threads in all, the caller's included (default 1). */
  threads?: number;
  /** Rows per register tile (4 or 6; default 4). */
  mr?: number;
  /** Use relaxed SIMD's fused multiply-add (default: where the engine validates it). */
  fma?: boolean;
}

export interface WasmSimdBackend extends MergeBackend {
  /** Threads actually used (1 where shared memory is unavailable). */
  readonly threads: number;
  /** Whether the kernel uses relaxed SIMD's multiply-add. */
  readonly fma: boolean;
}

const PAGE = 65536;
/** 1 GiB: far above the largest single weight of SD1.x/SD2.x/SDXL (about 60 MB). */
const MAX_PAGES = 16384;
/** Bytes before the first matrix: the work counter lives at 0. */
const HEADER = 64;
/** Jobs laid out and run together (fewer thread wake-ups); a bigger single job runs alone. */
const GROUP_BYTES = 32 << 20;
/** Below this many multiply-adds in a group the helpers' round trip costs more than it saves. */
const SMALL_RUN = 1 << 20;
/** Work items per thread and group: enough for the counter to even out a busy machine. */
const ITEMS_PER_THREAD = 16;

/** Whether this engine validates WebAssembly SIMD (the kernel's own bytes), and relaxed SIMD. */
export function wasmSimdSupported(opts: { fma?: boolean } = {}): boolean {
  try {
    return WebAssembly.validate(mergeKernelBytes({ shared: false, maxPages: 1, fma: opts.fma ?? false }));
  } catch {
    return false;
  }
}

function sharedMemoryAvailable(): boolean {
  if (typeof SharedArrayBuffer === 'undefined') return false;
  const g = globalThis as { crossOriginIsolated?: boolean; process?: unknown };
  return g.crossOriginIsolated !== false || g.process !== undefined;
}

function align16(n: number): number {
  return (n + 15) & ~15;
}

/** Where one job lives, relative to the start of its group's arena. */
interface Placed {
  job: MergeJob;
  w: number;
  up: number;
  d: number;
  np: number;
  blocks: number;
  end: number;
}

interface Group {
  placed: Placed[];
  /** Bytes of layout. */
  size: number;
  /** Multiply-adds. */
  macs: number;
}

function place(job: MergeJob, at: number, mr: number): Placed {
  const { out: m, in: n, rank: r } = job.shape;
  const blocks = Math.ceil(m / mr);
  const np = Math.ceil(n / NR) * NR;
  const w = align16(at);
  const up = align16(w + blocks * mr * np * 4);
  const d = align16(up + blocks * mr * r * 4);
  return { job, w, up, d, np, blocks, end: d + r * np * 4 };
}

/** Consecutive jobs in groups of at most GROUP_BYTES of layout (rank-0 jobs are left out). */
function groups(jobs: readonly MergeJob[], mr: number): Group[] {
  const out: Group[] = [];
  let cur: Placed[] = [];
  const close = () => {
    if (cur.length === 0) return;
    const macs = cur.reduce((s, p) => s + p.job.shape.out * p.job.shape.in * p.job.shape.rank, 0);
    out.push({ placed: cur, size: cur[cur.length - 1]!.end, macs });
    cur = [];
  };
  for (const job of jobs) {
    if (job.shape.rank === 0) continue;
    let p = place(job, cur.length > 0 ? cur[cur.length - 1]!.end : 0, mr);
    if (cur.length > 0 && p.end > GROUP_BYTES) {
      close();
      p = place(job, 0, mr);
    }
    cur.push(p);
  }
  close();
  return out;
}

export async function createWasmSimdBackend(opts: WasmSimdOptions = {}): Promise<WasmSimdBackend> {
  const mr = opts.mr ?? DEFAULT_MR;
  const wanted = Math.max(1, Math.floor(opts.threads ?? 1));
  const threads = wanted > 1 && sharedMemoryAvailable() ? wanted : 1;
  const shared = threads > 1;
  const fma = opts.fma ?? wasmSimdSupported({ fma: true });
  let module: WebAssembly.Module;
  try {
    module = await WebAssembly.compile(mergeKernelBytes({ mr, fma, shared, maxPages: MAX_PAGES }));
  } catch (e) {
    throw new LorafuseError(
      'not-implemented',
      `this JavaScript engine cannot compile the WebAssembly SIMD merge kernel${fma ? ' with relaxed SIMD (fma)' : ''} (${
        e instanceof Error ? e.message : String(e)
      }); use ${fma ? 'fma: false, ' : ''}the ort-wasm or the scalar merge backend`,
      { fma },
      { cause: e },
    );
  }
  const memory = new WebAssembly.Memory({
    initial: 1,
    maximum: MAX_PAGES,
    shared,
  } as WebAssembly.MemoryDescriptor);
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  const merge = instance.exports.merge as Kernel;
  const pool = shared ? await ThreadPool.start(threads - 1, module, memory) : null;
  let disposed = false;

  const ensureBytes = (bytes: number, job: MergeJob) => {
    const have = memory.buffer.byteLength;
    if (bytes <= have) return;
    const pages = Math.ceil((bytes - have) / PAGE);
    if (have / PAGE + pages > MAX_PAGES) {
      throw new LorafuseError(
        'out-of-memory',
        `${job.label ? `module ${job.label}: ` : ''}a [${job.shape.out}x${job.shape.in}] rank-${job.shape.rank} merge needs ${bytes} bytes of wasm memory, above the ${MAX_PAGES * PAGE}-byte cap; use the ort-wasm backend for this weight`,
        { label: job.label, shape: { ...job.shape } },
      );
    }
    memory.grow(pages);
  };

  const copyIn = (g: Group, base: number) => {
    const f = new Float32Array(memory.buffer);
    for (const p of g.placed) {
      const { out: m, in: n, rank: r } = p.job.shape;
      copyRows(p.job.w0, n, f, (base + p.w) / 4, p.np, m);
      packD(p.job.d, r, n, f, (base + p.d) / 4);
      packU(p.job.u, m, r, mr, f, (base + p.up) / 4);
    }
  };

  const copyOut = (g: Group, base: number) => {
    const f = new Float32Array(memory.buffer);
    for (const p of g.placed)
      copyRowsOut(f, (base + p.w) / 4, p.np, p.job.out, p.job.shape.in, p.job.shape.out);
  };

  const kernelRun = (g: Group, base: number): KernelRun => {
    const blocks = g.placed.reduce((s, p) => s + p.blocks, 0);
    const chunk = Math.max(1, Math.ceil(blocks / (ITEMS_PER_THREAD * threads)));
    const tasks = new Int32Array(g.placed.length * 5);
    const scales = new Float32Array(g.placed.length);
    const items: number[] = [];
    g.placed.forEach((p, t) => {
      tasks.set([base + p.w, base + p.up, base + p.d, p.np * 4, p.job.shape.rank], t * 5);
      scales[t] = p.job.scale ?? 1;
      for (let b = 0; b < p.blocks; b += chunk) items.push(t, b, Math.min(b + chunk, p.blocks));
    });
    return { tasks, scales, items: Int32Array.from(items), counter: 0 };
  };

  /**
   * Runs the groups in turn. With helpers and several groups, two arenas alternate: while the
   * helpers start on group k, this thread copies group k-1 out and group k+1 in (memory-bound
   * work that only this thread can do: the caller's arrays are not shared), then joins group k.
   */
  const runGroups = async (gs: readonly Group[]): Promise<void> => {
    const arenas = pool && gs.length > 1 ? 2 : 1;
    const largest = gs.reduce((a, g) => (g.size > a.size ? g : a));
    const arenaSize = (largest.size + 63) & ~63;
    ensureBytes(HEADER + arenas * arenaSize, largest.placed[0]!.job);
    const baseOf = (k: number) => HEADER + (k % arenas) * arenaSize;
    copyIn(gs[0]!, baseOf(0));
    for (let k = 0; k < gs.length; k++) {
      const g = gs[k]!;
      const run = kernelRun(g, baseOf(k));
      new Int32Array(memory.buffer, run.counter, 1)[0] = 0;
      const helpers = pool && g.macs >= SMALL_RUN ? pool.dispatch(run) : null;
      if (arenas === 2) {
        if (k > 0) copyOut(gs[k - 1]!, baseOf(k - 1));
        if (k + 1 < gs.length) copyIn(gs[k + 1]!, baseOf(k + 1));
      }
      runItems(merge, memory, run);
      if (helpers) await helpers;
      if (arenas === 1) {
        copyOut(g, baseOf(k));
        if (k + 1 < gs.length) copyIn(gs[k + 1]!, baseOf(k + 1));
      }
    }
    if (arenas === 2) copyOut(gs[gs.length - 1]!, baseOf(gs.length - 1));
  };

  const mergeMany = async (jobs: readonly MergeJob[]): Promise<void> => {
    if (disposed) {
      throw new LorafuseError(
        'invalid-argument',
        'the wasm-simd merge backend was disposed; create a new one',
      );
    }
    for (const j of jobs) checkJob(j);
    for (const j of jobs) if (j.shape.rank === 0 && j.out !== j.w0) j.out.set(j.w0);
    const gs = groups(jobs, mr);
    if (gs.length > 0) await runGroups(gs);
  };

  return {
    name: 'wasm-simd',
    threads,
    fma,
    scaledMerge: true,
    mergeInto: (w0: Float32Array, out: Float32Array, u: Float32Array, d: Float32Array, shape: MergeShape) =>
      mergeMany([{ w0, out, u, d, shape }]),
    mergeMany,
    async dispose() {
      if (disposed) return;
      disposed = true;
      await pool?.terminate();
    },
  };
}

/** `rows` rows of `cols` values from `src` into `dst` at `at` with row stride `ld`. */
function copyRows(
  src: Float32Array,
  cols: number,
  dst: Float32Array,
  at: number,
  ld: number,
  rows: number,
): void {
  if (ld === cols) {
    dst.set(src, at);
    return;
  }
  for (let i = 0; i < rows; i++) dst.set(src.subarray(i * cols, (i + 1) * cols), at + i * ld);
}

function copyRowsOut(
  src: Float32Array,
  at: number,
  ld: number,
  dst: Float32Array,
  cols: number,
  rows: number,
): void {
  if (ld === cols) {
    dst.set(src.subarray(at, at + rows * cols));
    return;
  }
  for (let i = 0; i < rows; i++) dst.set(src.subarray(at + i * ld, at + i * ld + cols), i * cols);
}

/** U [m, r] as [blocks][r][mr] (rows past m left as they are: their results are never read). */
function packU(u: Float32Array, m: number, r: number, mr: number, dst: Float32Array, at: number): void {
  for (let i = 0; i < m; i++) {
    const b = (i / mr) | 0;
    const a = i - b * mr;
    const base = at + b * r * mr + a;
    const src = i * r;
    for (let p = 0; p < r; p++) dst[base + p * mr] = u[src + p]!;
  }
}

/** D [r, n] as panels of 8 columns, [ceil(n/8)][r][8] (columns past n left as they are). */
function packD(d: Float32Array, r: number, n: number, dst: Float32Array, at: number): void {
  const full = Math.floor(n / NR);
  for (let t = 0; t < full; t++) {
    for (let p = 0; p < r; p++) {
      const o = at + (t * r + p) * NR;
      const src = p * n + t * NR;
      for (let c = 0; c < NR; c++) dst[o + c] = d[src + c]!;
    }
  }
  if (full * NR < n) {
    for (let p = 0; p < r; p++) {
      const o = at + (full * r + p) * NR;
      for (let c = 0; c < n - full * NR; c++) dst[o + c] = d[p * n + full * NR + c]!;
    }
  }
}
