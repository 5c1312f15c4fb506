/**
 * Merges one model module's adapter terms on the GPU: `W_eff = W0 + Σ_i ΔW_i(W0, c_i)` (and the
 * bias), the GPU path of `applyAdapters` in `lora/merge-cpu.ts` for every canonical kind
 * (merge-plan.ts routes each to its kernels). Factors are uploaded for this call and released
 * after it; W0 is only read.
 *
 * - No live term: W_eff is a copy of W0.
 * - One term without DoRA: one product straight from W0 to W_eff (in the weight's dtype).
 * - Otherwise the terms' changes are summed in f32 scratch buffers (a DoRA term's change is
 *   computed against W0: its product, then dora-norm and dora-rescale), and add-delta writes
 *   W0 + sum to W_eff: an f16 weight is rounded once, as the oracle's f32 result would be.
 *
 * Everything is encoded in one command buffer and submitted; the call resolves once it is
 * submitted (queue order makes later reads of W_eff see it).
 */
import { LorafuseError } from '../../errors.ts';
import type { AdapterModule } from '../lora/adapter.ts';
import type { AdapterTerm } from '../lora/merge-cpu.ts';
import { addDelta } from './kernels/add-delta/add-delta.ts';
import { doraNorm } from './kernels/dora-norm/dora-norm.ts';
import { doraRescale } from './kernels/dora-rescale/dora-rescale.ts';
import { kronMerge } from './kernels/kron-merge/kron-merge.ts';
import { loha } from './kernels/loha/loha.ts';
import { mergeLora } from './kernels/merge-lora/merge-lora.ts';
import { tuckerCore } from './kernels/tucker-core/tucker-core.ts';
import {
  type Down,
  type KronFactor,
  type LowRank,
  type ModulePlan,
  type PlanTerm,
  type Product,
  planModuleMerge,
} from './merge-plan.ts';
import { createStorageBuffer } from './storage-buffer.ts';
import { submitEncoders } from './uniform-pool.ts';
import { type WeightDtype, weightWords } from './weight-words.ts';

export interface MergeModuleArgs {
  /** The model module (e.g. `unet.down_blocks.0.attentions.0.proj_in`), for labels and errors. */
  module: string;
  /** Storage dtype of W0, W_eff and the bias buffers. */
  dtype: WeightDtype;
  /** Shape of the target weight (a conv's [out, in, kh, kw]). */
  weightShape: readonly number[];
  w0: GPUBuffer;
  /** Written; may not alias `w0`. */
  wEff: GPUBuffer;
  /** The target's bias, needed when a term changes it (a LoRA bias, full `diff_b`, norm `b_norm`). */
  bias?: { b0: GPUBuffer; bEff: GPUBuffer; count: number };
  /** With `uid` (the factor values' id: it changes when a hotswap rewrites them in place). */
  terms: readonly (AdapterTerm & { uid?: number })[];
  /**
   * Keeps the terms' own factor arrays on the GPU across calls (the GPU store's persistent
   * factors): an array of a term that has a `uid` is uploaded through it; arrays made for this
   * call (coefficient scales, products) still go into per-call buffers.
   */
  persistent?: PersistentUploads;
}

/** GPU copies of factor arrays that outlive one merge. */
export interface PersistentUploads {
  /** `data`'s buffer (made once; rewritten when `uid` changed since the last call). */
  buffer(data: Float32Array, uid: number, label: string): GPUBuffer;
}

/** A module's own factor arrays: its tensors and DoRA magnitude (what `persistent` keeps). */
export function factorArrays(m: AdapterModule): Float32Array[] {
  const out = Object.values(m.factors).map((f) => f.data);
  if (m.dora) out.push(m.dora.magnitude.data);
  return out;
}

/** Each term's own factor arrays, with the term's uid. */
function ownArrays(terms: MergeModuleArgs['terms']): Map<Float32Array, number> {
  const out = new Map<Float32Array, number>();
  for (const t of terms) {
    if (t.uid === undefined) continue;
    for (const a of factorArrays(t.module)) out.set(a, t.uid);
  }
  return out;
}

/** Buffers made for one merge, destroyed once its work is submitted. */
class Scratch {
  readonly #device: GPUDevice;
  readonly #label: string;
  readonly #buffers: GPUBuffer[] = [];
  readonly #persistent: { uploads: PersistentUploads; own: Map<Float32Array, number> } | null;

  constructor(
    device: GPUDevice,
    label: string,
    persistent: { uploads: PersistentUploads; own: Map<Float32Array, number> } | null = null,
  ) {
    this.#device = device;
    this.#label = label;
    this.#persistent = persistent;
  }

  upload(name: string, data: Float32Array): GPUBuffer {
    const uid = this.#persistent?.own.get(data);
    if (uid !== undefined) return this.#persistent!.uploads.buffer(data, uid, `${this.#label}:${name}`);
    const b = createStorageBuffer(this.#device, { label: `${this.#label}:${name}`, data });
    this.#buffers.push(b);
    return b;
  }

  /** A new buffer of `floats` f32 (zero-filled, as every new WebGPU buffer). */
  alloc(name: string, floats: number): GPUBuffer {
    const b = createStorageBuffer(this.#device, { label: `${this.#label}:${name}`, byteLength: floats * 4 });
    this.#buffers.push(b);
    return b;
  }

  destroy(): void {
    for (const b of this.#buffers) b.destroy();
    this.#buffers.length = 0;
  }
}

interface Ctx {
  device: GPUDevice;
  encoder: GPUCommandEncoder;
  scratch: Scratch;
  /** Label of the term being encoded. */
  module: string;
}

/** The `down` of a pair as a GPU buffer [rank, cols]: uploaded, or rebuilt by tucker-core. */
async function downBuffer(ctx: Ctx, down: Down, name: string): Promise<GPUBuffer> {
  if (down.from === 'dense') return ctx.scratch.upload(name, down.data);
  const { shape } = down;
  const out = ctx.scratch.alloc(name, shape.r1 * shape.q * shape.kernel);
  await tuckerCore(ctx.device, {
    module: ctx.module,
    ...shape,
    core: ctx.scratch.upload(`${name}-core`, down.core),
    wb: ctx.scratch.upload(`${name}-wb`, down.wb),
    out,
    encoder: ctx.encoder,
  });
  return out;
}

/** `base + U diag(scale) D` into `out` (merge-lora). */
async function lowRank(
  ctx: Ctx,
  pair: LowRank,
  scale: Float32Array,
  base: GPUBuffer,
  out: GPUBuffer,
  dtype: WeightDtype,
  name: string,
): Promise<void> {
  await mergeLora(ctx.device, {
    module: ctx.module,
    dtype,
    outFeatures: pair.rows,
    inFeatures: pair.cols,
    rank: pair.rank,
    w0: base,
    up: ctx.scratch.upload(`${name}-up`, pair.up),
    scale: ctx.scratch.upload(`${name}-scale`, scale),
    down: await downBuffer(ctx, pair.down, `${name}-down`),
    wEff: out,
    encoder: ctx.encoder,
  });
}

/** A LoKr factor as a dense f32 buffer: uploaded, or its pair's product (merge-lora on zeros). */
async function kronBuffer(ctx: Ctx, f: KronFactor, name: string): Promise<GPUBuffer> {
  if (f.form === 'dense') return ctx.scratch.upload(name, f.data);
  const { pair } = f;
  const out = ctx.scratch.alloc(name, pair.rows * pair.cols);
  const zero = ctx.scratch.alloc(`${name}-zero`, pair.rows * pair.cols);
  await lowRank(ctx, pair, new Float32Array(pair.rank).fill(1), zero, out, 'f32', name);
  return out;
}

/** Encodes `out = base + product` (base and out in `dtype`, distinct buffers). */
async function encodeProduct(
  ctx: Ctx,
  product: Product,
  base: GPUBuffer,
  out: GPUBuffer,
  dtype: WeightDtype,
): Promise<void> {
  switch (product.op) {
    case 'low-rank':
      return lowRank(ctx, product.pair, product.scale, base, out, dtype, 'lora');
    case 'hadamard': {
      const { first, second } = product;
      return loha(ctx.device, {
        module: ctx.module,
        dtype,
        outFeatures: first.rows,
        inFeatures: first.cols,
        rank1: first.rank,
        rank2: second.rank,
        coefficient: product.coefficient,
        base,
        up1: ctx.scratch.upload('w1a', first.up),
        down1: await downBuffer(ctx, first.down, 'w1b'),
        up2: ctx.scratch.upload('w2a', second.up),
        down2: await downBuffer(ctx, second.down, 'w2b'),
        out,
        encoder: ctx.encoder,
      });
    }
    case 'kron': {
      const { w1, w2 } = product;
      const dims = (f: KronFactor) => (f.form === 'dense' ? f : f.pair);
      return kronMerge(ctx.device, {
        module: ctx.module,
        dtype,
        rows1: dims(w1).rows,
        cols1: dims(w1).cols,
        rows2: dims(w2).rows,
        cols2: dims(w2).cols,
        coefficient: product.coefficient,
        base,
        w1: await kronBuffer(ctx, w1, 'w1'),
        w2: await kronBuffer(ctx, w2, 'w2'),
        out,
        encoder: ctx.encoder,
      });
    }
    case 'dense':
      return addDelta(ctx.device, {
        module: ctx.module,
        dtype,
        count: product.data.length,
        coefficient: product.coefficient,
        base,
        delta: ctx.scratch.upload('diff', product.data),
        out,
        encoder: ctx.encoder,
      });
  }
}

/** A DoRA term's weight change against W0, in a new f32 buffer. */
async function doraChange(
  ctx: Ctx,
  term: PlanTerm & { dora: NonNullable<PlanTerm['dora']> },
  args: MergeModuleArgs,
  count: number,
): Promise<GPUBuffer> {
  const { dora } = term;
  const delta = ctx.scratch.alloc('dora-delta', count);
  await encodeProduct(ctx, term.product, ctx.scratch.alloc('zero', count), delta, 'f32');
  const factor = ctx.scratch.alloc('dora-factor', dora.groups);
  const common = { module: ctx.module, dtype: args.dtype, ...dora, w0: args.w0, encoder: ctx.encoder };
  await doraNorm(ctx.device, {
    ...common,
    delta,
    magnitude: ctx.scratch.upload('dora-magnitude', dora.magnitude),
    factor,
  });
  await doraRescale(ctx.device, { ...common, factor, delta });
  return delta;
}

async function encodeWeight(ctx: Ctx, plan: ModulePlan, args: MergeModuleArgs): Promise<void> {
  const { count, terms } = plan;
  const only = terms.length === 1 ? terms[0]! : undefined;
  if (terms.length === 0) {
    ctx.encoder.copyBufferToBuffer(args.w0, 0, args.wEff, 0, weightWords(args.dtype, count) * 4);
    return;
  }
  if (only && !only.dora) {
    ctx.module = `${args.module}:${only.label}`;
    await encodeProduct(ctx, only.product, args.w0, args.wEff, args.dtype);
    return;
  }
  // The sum of the terms' changes, in f32; each step writes the other of two buffers.
  const sums = [ctx.scratch.alloc('sum-a', count), ctx.scratch.alloc('sum-b', count)] as const;
  let next = 0;
  let sum: GPUBuffer | undefined;
  for (const term of terms) {
    ctx.module = `${args.module}:${term.label}`;
    const out = sums[next]!;
    if (term.dora) {
      const change = await doraChange(ctx, { ...term, dora: term.dora }, args, count);
      if (!sum) {
        sum = change;
        continue;
      }
      await addDelta(ctx.device, {
        module: ctx.module,
        dtype: 'f32',
        count,
        coefficient: 1,
        base: sum,
        delta: change,
        out,
        encoder: ctx.encoder,
      });
    } else {
      await encodeProduct(ctx, term.product, sum ?? ctx.scratch.alloc('zero', count), out, 'f32');
    }
    sum = out;
    next ^= 1;
  }
  ctx.module = args.module;
  await addDelta(ctx.device, {
    module: args.module,
    dtype: args.dtype,
    count,
    coefficient: 1,
    base: args.w0,
    delta: sum!,
    out: args.wEff,
    encoder: ctx.encoder,
  });
}

async function encodeBias(ctx: Ctx, plan: ModulePlan, args: MergeModuleArgs): Promise<void> {
  const { bias } = args;
  if (!bias) return;
  ctx.module = `${args.module}:bias`;
  if (!plan.bias) {
    ctx.encoder.copyBufferToBuffer(bias.b0, 0, bias.bEff, 0, weightWords(args.dtype, bias.count) * 4);
    return;
  }
  await addDelta(ctx.device, {
    module: ctx.module,
    dtype: args.dtype,
    count: bias.count,
    coefficient: 1,
    base: bias.b0,
    delta: ctx.scratch.upload('bias-delta', plan.bias),
    out: bias.bEff,
    encoder: ctx.encoder,
  });
}

/** Merges `args.terms` into W_eff (and the bias) in one submitted command buffer. */
export async function mergeModule(device: GPUDevice, args: MergeModuleArgs): Promise<void> {
  if (args.w0 === args.wEff) {
    throw new LorafuseError(
      'invalid-argument',
      `merge of ${args.module}: w0 and wEff must be different buffers.`,
      {
        module: args.module,
      },
    );
  }
  const plan = planModuleMerge(args.terms, args.weightShape, args.bias ? { biasCount: args.bias.count } : {});
  if (plan.bias && !args.bias) {
    throw new LorafuseError(
      'invalid-argument',
      `merge of ${args.module}: an adapter changes this module's bias, but no bias buffers were given. ` +
        'Pass the module bias (b0, bEff) too.',
      { module: args.module, terms: args.terms.map((t) => t.module.module) },
    );
  }
  const scratch = new Scratch(
    device,
    `merge:${args.module}`,
    args.persistent ? { uploads: args.persistent, own: ownArrays(args.terms) } : null,
  );
  try {
    const encoder = device.createCommandEncoder({ label: `merge:${args.module}` });
    const ctx: Ctx = { device, encoder, scratch, module: args.module };
    await encodeWeight(ctx, plan, args);
    await encodeBias(ctx, plan, args);
    submitEncoders(device, [encoder]);
  } finally {
    // Destroying a buffer that submitted work still uses waits for that work (WebGPU semantics).
    scratch.destroy();
  }
}
