/**
 * Are the merge kernels right on this device, in f16 and f32? A check (not a timing) for a real
 * GPU: every WGSL kernel of src/core/gpu/kernels on a few odd shapes (1x1, 7x13, 320x768, a 3x3
 * conv; rank 1 and 128; 1 and 4 adapters for merge-lora), against an independent CPU oracle
 * written here from each kernel's formula (as tests/gpu/*.test.ts do). Prints a table and exits
 * with code 1 when any row fails.
 *
 * Modes:
 * - `packed`: the kernels' f16 dtype, two f16 per u32 word (weight-words.wgsl, `PACKED_F16`). It
 *   needs no `shader-f16`; W0 / base is packed f16, factors and deltas stay f32 (as in the app).
 * - `f32`: the same kernels on f32 words.
 * - `native`: none of the kernels has a native-f16 (`enable f16;`) variant, so there is no
 *   native row per kernel. When the adapter has `shader-f16`, createDevice requests it and one
 *   `shader-f16 probe` row (not a kernel) checks that `enable f16;` compiles and that f32 -> f16
 *   conversion and an f16 multiply work on this driver.
 * tucker-core is f32 only (its inputs are f32 factors) and copy moves u32 words: its `packed` row
 * copies packed f16 words (NaN payloads, -0, subnormals), which must arrive bit for bit.
 *
 * Tolerances:
 * - packed f16 output: the oracle is computed from the f16-rounded inputs in float64 (at least as
 *   exact as the f32 the kernels accumulate in) and rounded to f16. Allowed: 1 f16 ulp of the
 *   result's magnitude, i.e. max |gpu - oracle| <= ulp_f16(max |oracle|). WGSL lets
 *   `pack2x16float` round either way and the kernel's f32 sum differs from the exact one by
 *   ~1e-6 * max |W| (far below an f16 ulp, ~4.9e-4 * max |W|), so a correct kernel is within one
 *   ulp of its own element, which is at most the ulp at the largest magnitude. Each such row also
 *   checks that the delta is not negligible (> 10 x the tolerance: a kernel that dropped it
 *   fails) and, for an odd element count, that the padding half of the last word is kept.
 * - f32 output (every f32 row, and dora-norm / dora-rescale in packed mode, whose outputs are
 *   f32): max |gpu - oracle| <= 1e-5 * max |oracle|. Over R <= 128 terms of order max|W|/sqrt(R)
 *   the f32 error is ~sqrt(R) * 2^-24 * sum|terms| ~ 1e-6 * max|W| (tests/gpu/merge-lora.test.ts
 *   explains the bound): a 10x margin.
 * - nonfinite-check and copy: exact (error = number of wrong counters / words, tolerance 0).
 *
 * Dawn needs its Vulkan environment at process start, so this re-runs itself in a child (as
 * bench/merge.ts): SwiftShader unless --real-gpu. SwiftShader has no shader-f16: there the table
 * has packed and f32 rows only.
 *
 * usage: tsx bench/run.ts kernels-f16 [--real-gpu] [--smoke] [--info]
 *   --smoke  small shapes only (no 320x768): a couple of minutes on a slow CPU device
 *   --info   print the adapter (vendor, features, shader-f16, limits) and stop
 */
import { parseArgs } from 'node:util';
import { createDevice } from '../src/core/gpu/device.ts';
import { f32ToF16Bits, packF16, roundToF16, unpackF16 } from '../src/core/gpu/f16.ts';
import { createStorageBuffer } from '../src/core/gpu/storage-buffer.ts';
import type { WeightDtype } from '../src/core/gpu/weight-words.ts';
import type { LorafuseError } from '../src/errors.ts';
import {
  isGpuChild,
  machineLine,
  pseudoRandom,
  registerRawImports,
  row,
  runInGpuChild,
} from './bench-run.ts';

type Mode = 'f32' | 'packed' | 'native';

interface Row {
  kernel: string;
  shape: string;
  mode: Mode;
  err: number;
  tol: number;
  ok: boolean;
  note: string;
}

/** f32 outputs: max |gpu - oracle| <= F32_REL * max |oracle| (see the header). */
const F32_REL = 1e-5;
/** Marker in the padding half of an odd packed count (1.0 in f16): kernels must keep it. */
const PAD_MARKER = 0x3c00;

/** One f16 ulp at magnitude |x| (2^-24 below the smallest normal, 2^-14). */
export function f16Ulp(x: number): number {
  const a = Math.abs(x);
  if (!(a >= 2 ** -14)) return 2 ** -24;
  return 2 ** (Math.floor(Math.log2(a)) - 10);
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    m = Number.isNaN(d) ? Number.POSITIVE_INFINITY : Math.max(m, d);
  }
  return m;
}

const dtypeOf = (mode: Mode): WeightDtype => (mode === 'f32' ? 'f32' : 'f16');

/** A weight in words as the kernel reads it, and the values the oracle sees (f16-rounded when packed). */
interface Weight {
  words: Uint32Array;
  values: Float32Array;
}

function weight(mode: Mode, values: Float32Array): Weight {
  if (mode === 'f32') return { words: new Uint32Array(values.slice().buffer), values };
  const words = packF16(values);
  if (values.length % 2 === 1) words[words.length - 1]! |= PAD_MARKER << 16;
  return { words, values: unpackF16(words, values.length) };
}

/**
 * A weight output against its oracle (float64, from the inputs the kernel saw): f32 within
 * F32_REL, packed within one f16 ulp of the result's magnitude, delta not negligible, padding kept.
 */
function checkWeight(
  mode: Mode,
  got: Uint32Array,
  want: Float64Array,
  base: Float32Array,
): Omit<Row, 'kernel' | 'shape'> {
  const n = want.length;
  const delta = maxDiff(want, base);
  if (mode === 'f32') {
    const tol = F32_REL * maxAbs(want);
    const err = maxDiff(new Float32Array(got.buffer, 0, n), want);
    const big = delta > 10 * tol;
    return { mode, err, tol, ok: err <= tol && big, note: big ? '' : `delta ${delta} too small to test` };
  }
  const rounded = want.map(roundToF16);
  const tol = f16Ulp(maxAbs(rounded));
  const values = unpackF16(got, n);
  const err = maxDiff(values, rounded);
  let ulps = 0;
  for (let i = 0; i < n; i++) {
    const d = Math.abs(orderedF16(f32ToF16Bits(values[i]!)) - orderedF16(f32ToF16Bits(rounded[i]!)));
    ulps = Math.max(ulps, d);
  }
  const notes = [`max ${ulps} ulp of own element`];
  const padKept = n % 2 === 0 || got[got.length - 1]! >>> 16 === PAD_MARKER;
  if (!padKept) notes.push('padding half overwritten');
  const big = delta > 10 * tol;
  if (!big) notes.push(`delta ${delta} too small to test`);
  return { mode, err, tol, ok: err <= tol && padKept && big, note: notes.join('; ') };
}

/** f16 bits as integers ordered like the values, so that ulp distance is a difference. */
const orderedF16 = (h: number) => (h & 0x8000 ? -(h & 0x7fff) : h);

function checkF32(mode: Mode, got: Float32Array, want: Float64Array): Omit<Row, 'kernel' | 'shape'> {
  const tol = F32_REL * maxAbs(want);
  const err = maxDiff(got, want);
  return { mode, err, tol, ok: err <= tol, note: mode === 'f32' ? '' : 'f32 output from packed f16 W0' };
}

/** Loads the kernels (after the `?raw` hook) and makes the device. */
async function setup() {
  await registerRawImports();
  const [mergeLora, addDelta, loha, kron, tucker, doraNorm, doraRescale, nonfinite, copy, webgpu] =
    await Promise.all([
      import('../src/core/gpu/kernels/merge-lora/merge-lora.ts'),
      import('../src/core/gpu/kernels/add-delta/add-delta.ts'),
      import('../src/core/gpu/kernels/loha/loha.ts'),
      import('../src/core/gpu/kernels/kron-merge/kron-merge.ts'),
      import('../src/core/gpu/kernels/tucker-core/tucker-core.ts'),
      import('../src/core/gpu/kernels/dora-norm/dora-norm.ts'),
      import('../src/core/gpu/kernels/dora-rescale/dora-rescale.ts'),
      import('../src/core/gpu/kernels/nonfinite-check/nonfinite-check.ts'),
      import('../src/core/gpu/kernels/copy/copy.ts'),
      import('webgpu'),
    ]);
  Object.assign(globalThis, webgpu.globals);
  const gpu = webgpu.create([]) as unknown as GPU;
  instances.push(gpu);
  const uncaptured: LorafuseError[] = [];
  const created = await createDevice(gpu, {
    label: 'kernels-f16',
    onUncapturedError: (e) => uncaptured.push(e),
  });
  return {
    ...created,
    uncaptured,
    k: { mergeLora, addDelta, loha, kron, tucker, doraNorm, doraRescale, nonfinite, copy },
  };
}

/** Dawn instances must stay referenced while their device lives (a collected one aborts Node). */
const instances: GPU[] = [];

type Setup = Awaited<ReturnType<typeof setup>>;

function printAdapter(s: Setup): void {
  const { adapter, features, limits } = s.status;
  console.log(
    `adapter: ${[adapter.vendor, adapter.architecture, adapter.device, adapter.description].filter(Boolean).join(' / ') || 'unnamed'}`,
  );
  console.log(`adapter features: ${features.join(', ') || '(none)'}`);
  console.log(
    `shader-f16: adapter ${features.includes('shader-f16') ? 'yes' : 'no'}, device ${s.device.features.has('shader-f16') ? 'yes (requested by createDevice)' : 'no'}`,
  );
  const shown = [
    'maxBufferSize',
    'maxStorageBufferBindingSize',
    'maxComputeWorkgroupStorageSize',
    'maxComputeInvocationsPerWorkgroup',
    'maxComputeWorkgroupsPerDimension',
  ];
  console.log(`limits: ${shown.map((n) => `${n}=${limits[n]}`).join(', ')}`);
}

/** Runs kernels on one device; each case returns rows. */
class Runner {
  readonly rows: Row[] = [];
  #live: GPUBuffer[] = [];
  constructor(readonly s: Setup) {}

  get device(): GPUDevice {
    return this.s.device;
  }

  buf(label: string, data: Float32Array | Uint32Array): GPUBuffer {
    const b = createStorageBuffer(this.device, { label: `kernels-f16:${label}`, data });
    this.#live.push(b);
    return b;
  }

  out(label: string, bytes: number, fill?: Uint32Array): GPUBuffer {
    const b = fill
      ? createStorageBuffer(this.device, { label: `kernels-f16:${label}`, data: fill })
      : createStorageBuffer(this.device, { label: `kernels-f16:${label}`, byteLength: bytes });
    this.#live.push(b);
    return b;
  }

  async read(src: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.device.createBuffer({
      label: 'kernels-f16:readback',
      size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const enc = this.device.createCommandEncoder({ label: 'kernels-f16:readback' });
    enc.copyBufferToBuffer(src, 0, staging, 0, size);
    this.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const out = staging.getMappedRange().slice(0);
    staging.unmap();
    staging.destroy();
    return out;
  }

  /** Runs one case inside a validation scope; a GPU error or a throw fails the row. */
  async case(
    kernel: string,
    shape: string,
    mode: Mode,
    body: () => Promise<Omit<Row, 'kernel' | 'shape'>>,
  ): Promise<void> {
    const before = this.s.uncaptured.length;
    this.device.pushErrorScope('validation');
    let r: Omit<Row, 'kernel' | 'shape'>;
    try {
      r = await body();
    } catch (e) {
      r = {
        mode,
        err: Number.NaN,
        tol: 0,
        ok: false,
        note: `threw: ${e instanceof Error ? e.message : String(e)}`,
      };
    }
    const error = await this.device.popErrorScope();
    if (error) r = { ...r, ok: false, note: `${r.note} GPU validation error: ${error.message}` };
    if (this.s.uncaptured.length > before) {
      r = {
        ...r,
        ok: false,
        note: `${r.note} uncaptured: ${this.s.uncaptured
          .slice(before)
          .map((e) => e.message)
          .join(' | ')}`,
      };
    }
    for (const b of this.#live) b.destroy();
    this.#live = [];
    const full: Row = { kernel, shape, ...r };
    this.rows.push(full);
    console.log(formatRow(full));
  }
}

function formatRow(r: Row): string {
  const num = (x: number) => (x === 0 ? '0' : Number.isFinite(x) ? x.toExponential(2) : String(x));
  return row([r.kernel, r.shape, r.mode, num(r.err), num(r.tol), r.ok ? 'pass' : '**FAIL**', r.note]);
}

// ---- oracles (float64, from the values the kernel read) ----

/** W0 + U diag(scale) D; U [out, R], D [R, in]. */
function oracleMerge(
  w0: Float32Array,
  out: number,
  inF: number,
  up: Float32Array,
  scale: Float32Array,
  down: Float32Array,
): Float64Array {
  const R = scale.length;
  const w = Float64Array.from(w0);
  for (let o = 0; o < out; o++) {
    for (let r = 0; r < R; r++) {
      const u = scale[r]! * up[o * R + r]!;
      for (let i = 0; i < inF; i++) w[o * inF + i]! += u * down[r * inF + i]!;
    }
  }
  return w;
}

/** Row-major [m, n] = a [m, r] @ b [r, n]. */
function matmul(a: Float32Array, b: Float32Array, m: number, r: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let k = 0; k < r; k++) {
      const x = a[i * r + k]!;
      for (let j = 0; j < n; j++) c[i * n + j]! += x * b[k * n + j]!;
    }
  }
  return c;
}

// ---- cases ----

interface Shape {
  name: string;
  /** The weight's shape (a conv's [out, in_ch, kh, kw]). */
  dims: number[];
}

const SHAPES: Shape[] = [
  { name: '1x1', dims: [1, 1] },
  { name: '7x13', dims: [7, 13] },
  { name: '320x768', dims: [320, 768] },
  { name: '3x3 conv 16x8', dims: [16, 8, 3, 3] },
];

const rowsCols = (dims: number[]) => ({ out: dims[0]!, inF: dims.slice(1).reduce((a, b) => a * b, 1) });

/** merge-lora adapter sets: total rank 1 and 128, one and four adapters (concatenated along the rank). */
const ADAPTER_SETS: { name: string; ranks: number[] }[] = [
  { name: 'rank 1, 1 adapter', ranks: [1] },
  { name: 'rank 128, 1 adapter', ranks: [128] },
  { name: 'rank 1 x 4 adapters', ranks: [1, 1, 1, 1] },
  { name: 'rank 8+16+40+64, 4 adapters', ranks: [8, 16, 40, 64] },
];
const COEFFICIENTS = [0.8, -0.5, 1.25, 0.3];

async function mergeLoraCases(t: Runner, shapes: Shape[], modes: Mode[]): Promise<void> {
  const { mergeLora } = t.s.k;
  for (const [si, sh] of shapes.entries()) {
    const { out, inF } = rowsCols(sh.dims);
    for (const [ai, set] of ADAPTER_SETS.entries()) {
      const total = set.ranks.reduce((a, b) => a + b, 0);
      const amp = total ** -0.25;
      const adapters = set.ranks.map((rank, n) => ({
        name: `a${n}`,
        rank,
        up: pseudoRandom(out * rank, 100 * si + 10 * ai + 2 * n + 1, amp),
        down: pseudoRandom(rank * inF, 100 * si + 10 * ai + 2 * n + 2, amp),
        coefficient: COEFFICIENTS[n]!,
      }));
      const f = mergeLora.concatFactors('kernels-f16', out, inF, adapters);
      for (const mode of modes) {
        await t.case('merge-lora', `${sh.name} ${set.name}`, mode, async () => {
          const w0 = weight(mode, pseudoRandom(out * inF, 1000 + si, 1));
          const wEff = t.out('w_eff', w0.words.byteLength);
          await mergeLora.mergeLora(t.device, {
            module: 'kernels-f16',
            dtype: dtypeOf(mode),
            outFeatures: out,
            inFeatures: inF,
            rank: f.rank,
            w0: t.buf('w0', w0.words),
            up: t.buf('up', f.up),
            scale: t.buf('scale', f.scale),
            down: t.buf('down', f.down),
            wEff,
          });
          const got = new Uint32Array(await t.read(wEff, w0.words.byteLength));
          return checkWeight(mode, got, oracleMerge(w0.values, out, inF, f.up, f.scale, f.down), w0.values);
        });
      }
    }
  }
}

async function addDeltaCases(t: Runner, shapes: Shape[], modes: Mode[]): Promise<void> {
  const c = 0.8;
  for (const [si, sh] of shapes.entries()) {
    const count = sh.dims.reduce((a, b) => a * b, 1);
    for (const mode of modes) {
      await t.case('add-delta', sh.name, mode, async () => {
        const base = weight(mode, pseudoRandom(count, 2000 + si, 1));
        const delta = pseudoRandom(count, 2100 + si, 1);
        const out = t.out('out', base.words.byteLength);
        await t.s.k.addDelta.addDelta(t.device, {
          module: 'kernels-f16',
          dtype: dtypeOf(mode),
          count,
          coefficient: c,
          base: t.buf('base', base.words),
          delta: t.buf('delta', delta),
          out,
        });
        const want = Float64Array.from(base.values, (b, i) => b + c * delta[i]!);
        return checkWeight(
          mode,
          new Uint32Array(await t.read(out, base.words.byteLength)),
          want,
          base.values,
        );
      });
    }
  }
}

async function lohaCases(t: Runner, shapes: Shape[], modes: Mode[], ranks: number[]): Promise<void> {
  const c = 1.3;
  for (const [si, sh] of shapes.entries()) {
    const { out, inF } = rowsCols(sh.dims);
    for (const r of ranks) {
      const amp = r ** -0.25;
      const f = [out * r, r * inF, out * r, r * inF].map((n, j) =>
        pseudoRandom(n, 3000 + 10 * si + j + r, amp),
      ) as [Float32Array, Float32Array, Float32Array, Float32Array];
      for (const mode of modes) {
        await t.case('loha', `${sh.name} rank ${r}`, mode, async () => {
          const base = weight(mode, pseudoRandom(out * inF, 3100 + si, 1));
          const o = t.out('out', base.words.byteLength);
          await t.s.k.loha.loha(t.device, {
            module: 'kernels-f16',
            dtype: dtypeOf(mode),
            outFeatures: out,
            inFeatures: inF,
            rank1: r,
            rank2: r,
            coefficient: c,
            base: t.buf('base', base.words),
            up1: t.buf('up1', f[0]),
            down1: t.buf('down1', f[1]),
            up2: t.buf('up2', f[2]),
            down2: t.buf('down2', f[3]),
            out: o,
          });
          const p1 = matmul(f[0], f[1], out, r, inF);
          const p2 = matmul(f[2], f[3], out, r, inF);
          const want = Float64Array.from(base.values, (b, i) => b + c * p1[i]! * p2[i]!);
          return checkWeight(
            mode,
            new Uint32Array(await t.read(o, base.words.byteLength)),
            want,
            base.values,
          );
        });
      }
    }
  }
}

/** LoKr factor shapes whose Kronecker product is each test shape: [rows1, cols1] x [rows2, cols2]. */
const KRON: Record<string, [number, number, number, number]> = {
  '1x1': [1, 1, 1, 1],
  '7x13': [7, 1, 1, 13],
  '320x768': [4, 8, 80, 96],
  '3x3 conv 16x8': [2, 2, 8, 36],
};

async function kronCases(t: Runner, shapes: Shape[], modes: Mode[]): Promise<void> {
  const c = -0.9;
  for (const [si, sh] of shapes.entries()) {
    const [rows1, cols1, rows2, cols2] = KRON[sh.name]!;
    const w1 = pseudoRandom(rows1 * cols1, 4000 + si, 1);
    const w2 = pseudoRandom(rows2 * cols2, 4100 + si, 1);
    const rows = rows1 * rows2;
    const cols = cols1 * cols2;
    for (const mode of modes) {
      await t.case('kron-merge', `${sh.name} ([${rows1},${cols1}] x [${rows2},${cols2}])`, mode, async () => {
        const base = weight(mode, pseudoRandom(rows * cols, 4200 + si, 1));
        const o = t.out('out', base.words.byteLength);
        await t.s.k.kron.kronMerge(t.device, {
          module: 'kernels-f16',
          dtype: dtypeOf(mode),
          rows1,
          cols1,
          rows2,
          cols2,
          coefficient: c,
          base: t.buf('base', base.words),
          w1: t.buf('w1', w1),
          w2: t.buf('w2', w2),
          out: o,
        });
        const want = new Float64Array(rows * cols);
        for (let i = 0; i < rows1; i++)
          for (let k = 0; k < rows2; k++)
            for (let j = 0; j < cols1; j++)
              for (let l = 0; l < cols2; l++) {
                const e = (i * rows2 + k) * cols + j * cols2 + l;
                want[e] = base.values[e]! + c * w1[i * cols1 + j]! * w2[k * cols2 + l]!;
              }
        return checkWeight(mode, new Uint32Array(await t.read(o, base.words.byteLength)), want, base.values);
      });
    }
  }
}

/** Tucker cores: core [r1, r2, kernel] and wb [r2, q] (f32 only). */
const TUCKER: { name: string; r: number; q: number; kernel: number }[] = [
  { name: '3x3 conv 1x1 rank 1', r: 1, q: 1, kernel: 9 },
  { name: '7x13 rank 1', r: 1, q: 13, kernel: 1 },
  { name: '3x3 conv 16x8 rank 128', r: 128, q: 8, kernel: 9 },
  { name: '320x768 rank 128', r: 128, q: 768, kernel: 1 },
];

async function tuckerCases(t: Runner, smoke: boolean): Promise<void> {
  for (const [ci, c] of TUCKER.entries()) {
    if (smoke && c.q * c.r > 10_000) continue;
    await t.case(
      'tucker-core',
      `${c.name} (core [${c.r},${c.r},${c.kernel}], wb [${c.r},${c.q}])`,
      'f32',
      async () => {
        const { r, q, kernel } = c;
        const core = pseudoRandom(r * r * kernel, 5000 + ci, 1);
        const wb = pseudoRandom(r * q, 5100 + ci, 1);
        const out = t.out('out', r * q * kernel * 4);
        await t.s.k.tucker.tuckerCore(t.device, {
          module: 'kernels-f16',
          r1: r,
          r2: r,
          q,
          kernel,
          core: t.buf('core', core),
          wb: t.buf('wb', wb),
          out,
        });
        const want = new Float64Array(r * q * kernel);
        for (let i = 0; i < r; i++)
          for (let j = 0; j < r; j++)
            for (let qq = 0; qq < q; qq++)
              for (let k = 0; k < kernel; k++)
                want[(i * q + qq) * kernel + k]! += core[(i * r + j) * kernel + k]! * wb[j * q + qq]!;
        return checkF32('f32', new Float32Array(await t.read(out, want.length * 4)), want);
      },
    );
  }
}

/** DoRA groups of a shape: per output row (outer 1) or, for a conv, per input channel. */
function doraGroups(
  sh: Shape,
): { name: string; outer: number; groups: number; inner: number; inside: number; eps: number }[] {
  const { out, inF } = rowsCols(sh.dims);
  const g = [{ name: 'PEFT per output row', outer: 1, groups: out, inner: inF, inside: 0.7, eps: 0 }];
  if (sh.dims.length === 4) {
    g.push({
      name: 'LyCORIS per input channel',
      outer: out,
      groups: sh.dims[1]!,
      inner: sh.dims[2]! * sh.dims[3]!,
      inside: 1,
      eps: 2 ** -23,
    });
  }
  return g;
}

async function doraCases(t: Runner, shapes: Shape[], modes: Mode[]): Promise<void> {
  for (const [si, sh] of shapes.entries()) {
    for (const g of doraGroups(sh)) {
      const count = g.outer * g.groups * g.inner;
      const delta = pseudoRandom(count, 6000 + si, 0.5);
      const magnitude = pseudoRandom(g.groups, 6100 + si, 1).map((x) => 1 + Math.abs(x) * 5);
      const factor = pseudoRandom(g.groups, 6200 + si, 0.5).map((x) => 1 + x);
      const group = (e: number) => Math.floor(e / g.inner) % g.groups;
      for (const mode of modes) {
        await t.case('dora-norm', `${sh.name} ${g.name}`, mode, async () => {
          const w0 = weight(mode, pseudoRandom(count, 6300 + si, 1));
          const out = t.out('factor', g.groups * 4);
          await t.s.k.doraNorm.doraNorm(t.device, {
            module: 'kernels-f16',
            dtype: dtypeOf(mode),
            outer: g.outer,
            groups: g.groups,
            inner: g.inner,
            inside: g.inside,
            eps: g.eps,
            w0: t.buf('w0', w0.words),
            delta: t.buf('delta', delta),
            magnitude: t.buf('magnitude', magnitude),
            factor: out,
          });
          const sq = new Float64Array(g.groups);
          for (let e = 0; e < count; e++) sq[group(e)]! += (w0.values[e]! + g.inside * delta[e]!) ** 2;
          const want = Float64Array.from(sq, (s, i) => magnitude[i]! / (Math.sqrt(s) + g.eps));
          return checkF32(mode, new Float32Array(await t.read(out, g.groups * 4)), want);
        });
        await t.case('dora-rescale', `${sh.name} ${g.name}`, mode, async () => {
          const mix = g.eps === 0 ? 1 : 0.6;
          const w0 = weight(mode, pseudoRandom(count, 6400 + si, 1));
          const d = t.buf('delta', delta);
          await t.s.k.doraRescale.doraRescale(t.device, {
            module: 'kernels-f16',
            dtype: dtypeOf(mode),
            outer: g.outer,
            groups: g.groups,
            inner: g.inner,
            inside: g.inside,
            mix,
            w0: t.buf('w0', w0.words),
            factor: t.buf('factor', factor),
            delta: d,
          });
          const want = Float64Array.from(
            w0.values,
            (w, e) => mix * (factor[group(e)]! * (w + g.inside * delta[e]!) - w),
          );
          return checkF32(mode, new Float32Array(await t.read(d, count * 4)), want);
        });
      }
    }
  }
}

async function nonfiniteCases(t: Runner, shapes: Shape[], modes: Mode[]): Promise<void> {
  for (const [si, sh] of shapes.entries()) {
    const count = sh.dims.reduce((a, b) => a * b, 1);
    for (const mode of modes) {
      await t.case('nonfinite-check', sh.name, mode, async () => {
        const values = pseudoRandom(count, 7000 + si, 100);
        // A NaN at an odd index (a high half when packed), an Inf before it: the first found.
        const nanAt = count === 1 ? 0 : (Math.floor(count * 0.7) | 1) % count;
        const infAt = count > 2 ? Math.floor(count * 0.3) : -1;
        values[nanAt] = Number.NaN;
        if (infAt >= 0) values[infAt] = Number.NEGATIVE_INFINITY;
        const data =
          mode === 'f32'
            ? new Uint32Array(values.buffer)
            : (() => {
                const w = packF16(values);
                // An Inf in the padding half of an odd count: not an element, must not count.
                if (count % 2 === 1) w[w.length - 1]! |= 0x7c00 << 16;
                return w;
              })();
        const got = await t.s.k.nonfinite.countNonfinite(t.device, {
          module: 'kernels-f16',
          dtype: dtypeOf(mode) as 'f32' | 'f16',
          count,
          data: t.buf('data', data),
        });
        const want = {
          nan: 1,
          inf: infAt >= 0 ? 1 : 0,
          firstIndex: infAt >= 0 ? Math.min(infAt, nanAt) : nanAt,
        };
        const wrong = (['nan', 'inf', 'firstIndex'] as const).filter((k) => got[k] !== want[k]);
        return {
          mode,
          err: wrong.length,
          tol: 0,
          ok: wrong.length === 0,
          note: wrong.length ? `got ${JSON.stringify(got)}, want ${JSON.stringify(want)}` : 'counters exact',
        };
      });
    }
  }
}

async function copyCases(t: Runner, shapes: Shape[], modes: Mode[]): Promise<void> {
  for (const [si, sh] of shapes.entries()) {
    const count = sh.dims.reduce((a, b) => a * b, 1);
    for (const mode of modes) {
      await t.case('copy', sh.name, mode, async () => {
        let src: Uint32Array;
        if (mode === 'f32') src = new Uint32Array(pseudoRandom(count, 8000 + si, 1).buffer);
        else {
          src = packF16(pseudoRandom(count, 8000 + si, 1));
          // Bit patterns a float path would not keep: a NaN payload, -0, a subnormal.
          const special = [0x7e01, 0x8000, 0x0001];
          for (let i = 0; i < Math.min(special.length, src.length); i++)
            src[i] = (src[i]! & 0xffff0000) | special[i]!;
        }
        const words = src.length;
        const fill = new Uint32Array(words + 3).fill(7);
        const dst = t.out('dst', 0, fill);
        const s = t.buf('src', Uint32Array.from([...src, 1, 2, 3]));
        await t.s.k.copy.copyWords(t.device, { module: 'kernels-f16', words, src: s, dst });
        const got = new Uint32Array(await t.read(dst, fill.byteLength));
        let wrong = 0;
        for (let i = 0; i < words + 3; i++) if (got[i] !== (i < words ? src[i] : 7)) wrong++;
        return {
          mode,
          err: wrong,
          tol: 0,
          ok: wrong === 0,
          note: `${words} words bit for bit, 3 past the end kept`,
        };
      });
    }
  }
}

/** A native-f16 probe (not a kernel): f32 -> f16 conversion and an f16 product under `enable f16;`. */
const PROBE_WGSL = `enable f16;
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) {
  let i = id.x;
  if (i < arrayLength(&src)) {
    let h = f16(src[i]);
    dst[2u * i] = f32(h);
    dst[2u * i + 1u] = f32(h * h);
  }
}`;

async function nativeProbe(t: Runner): Promise<void> {
  const n = 4096;
  await t.case('shader-f16 probe', `${n} values: f16(x), f16(x)*f16(x)`, 'native', async () => {
    const x = pseudoRandom(n, 9000, 200);
    const module = t.device.createShaderModule({ label: 'kernels-f16:probe', code: PROBE_WGSL });
    const pipeline = await t.device.createComputePipelineAsync({
      label: 'kernels-f16:probe',
      layout: 'auto',
      compute: { module, entryPoint: 'main' },
    });
    const src = t.buf('probe-src', x);
    const dst = t.out('probe-dst', 2 * n * 4);
    const enc = t.device.createCommandEncoder({ label: 'kernels-f16:probe' });
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(
      0,
      t.device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: { buffer: src } },
          { binding: 1, resource: { buffer: dst } },
        ],
      }),
    );
    pass.dispatchWorkgroups(Math.ceil(n / 64));
    pass.end();
    t.device.queue.submit([enc.finish()]);
    const got = new Float32Array(await t.read(dst, 2 * n * 4));
    // Either neighbour is allowed for a rounding the spec leaves to the implementation: 1 ulp.
    let worst = 0;
    for (let i = 0; i < n; i++) {
      const h = roundToF16(x[i]!);
      worst = Math.max(
        worst,
        Math.abs(got[2 * i]! - h) / f16Ulp(h),
        Math.abs(got[2 * i + 1]! - roundToF16(h * h)) / f16Ulp(h * h),
      );
    }
    return {
      mode: 'native',
      err: worst,
      tol: 1,
      ok: worst <= 1,
      note: 'error and tolerance in f16 ulps of each result',
    };
  });
}

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      'real-gpu': { type: 'boolean', default: false },
      smoke: { type: 'boolean', default: false },
      info: { type: 'boolean', default: false },
    },
  });
  if (!isGpuChild()) return runInGpuChild('kernels-f16', args, values['real-gpu']);

  console.log(`bench kernels-f16: ${machineLine()}`);
  const s = await setup();
  try {
    printAdapter(s);
    if (values.info) return;
    const native = s.device.features.has('shader-f16');
    console.log(
      'native f16: none of the kernels has a native-f16 (`enable f16;`) variant; their f16 dtype is packed u32 ' +
        `words (weight-words.wgsl). Rows: packed f16 and f32${native ? ', plus a shader-f16 probe (not a kernel)' : ' (no shader-f16 on this device)'}.`,
    );
    const smoke = values.smoke;
    const shapes = smoke ? SHAPES.filter((sh) => sh.name !== '320x768') : SHAPES;
    const modes: Mode[] = ['packed', 'f32'];
    const t = new Runner(s);
    const started = performance.now();
    console.log(row(['kernel', 'shape', 'mode', 'max abs err', 'tolerance', 'result', 'note']));
    console.log(row(Array(7).fill('---')));
    if (native) await nativeProbe(t);
    await mergeLoraCases(t, shapes, modes);
    await addDeltaCases(t, shapes, modes);
    await lohaCases(t, shapes, modes, [1, 128]);
    await kronCases(t, shapes, modes);
    await tuckerCases(t, smoke);
    await doraCases(t, shapes, modes);
    await nonfiniteCases(t, shapes, modes);
    await copyCases(t, shapes, modes);
    const failed = t.rows.filter((r) => !r.ok);
    console.log(
      `${t.rows.length} rows, ${failed.length} failed, ${((performance.now() - started) / 1000).toFixed(1)} s` +
        (failed.length ? `: ${failed.map((r) => `${r.kernel} ${r.shape} ${r.mode}`).join('; ')}` : ''),
    );
    if (failed.length) process.exitCode = 1;
  } finally {
    s.device.destroy();
  }
}
