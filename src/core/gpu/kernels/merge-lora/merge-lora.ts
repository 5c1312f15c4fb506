/**
 * LoRA merge on the GPU: `W_eff = W0 + U diag(scale) D` for one module and any number of
 * adapters in one launch (factors concatenated along the rank axis, one coefficient per rank
 * column). Changing only coefficients (a slider, a per-step schedule) rewrites the tiny `scale`
 * buffer; the factor buffers stay.
 */
import { LorafuseError } from '../../../../errors.ts';
import { checkBuffers } from '../../check-buffers.ts';
import { declareKernel, launch } from '../../kernel.ts';
import { type WeightDtype, weightWords, withWeightWords } from '../../weight-words.ts';
import source from './merge-lora.wgsl?raw';

/** Each thread computes BLOCK x BLOCK outputs (the WGSL const of the same name). */
const BLOCK = 4;

export const mergeLoraKernel = declareKernel({
  name: 'merge-lora',
  source: withWeightWords(source),
  params: { out_features: 'u32', in_features: 'u32', rank: 'u32' },
  bindings: { w0: 'read', up: 'read', scale: 'read', down: 'read', w_eff: 'read-write' },
  overrides: { WG_O: 16, WG_I: 16, R_CHUNK: 16 },
  consts: { BLOCK },
  dtypes: { f32: { PACKED_F16: 0 }, f16: { PACKED_F16: 1 } },
  dispatch: (p, o) => [
    Math.ceil(p.in_features / (o.WG_I * BLOCK)),
    Math.ceil(p.out_features / (o.WG_O * BLOCK)),
  ],
});

/** Rows and columns of the matrix a weight is merged as: a conv [out, in_ch, kh, kw] is [out, in_ch*kh*kw]. */
export function mergeShape(weightShape: readonly number[]): { outFeatures: number; inFeatures: number } {
  const [outFeatures, ...rest] = weightShape;
  if (outFeatures === undefined || rest.length === 0) {
    throw new LorafuseError(
      'lora-shape-mismatch',
      `A LoRA target weight needs 2 or more dims, got [${weightShape}].`,
      {
        shape: weightShape,
      },
    );
  }
  return { outFeatures, inFeatures: rest.reduce((a, b) => a * b, 1) };
}

export interface AdapterFactors {
  /** Adapter name, for error messages. */
  name?: string;
  /** up / B [out, rank] (a conv's [out, rank, 1, 1], flattened). */
  up: Float32Array;
  /** down / A [rank, in] (a conv's [rank, in_ch, kh, kw], flattened). */
  down: Float32Array;
  rank: number;
  /** The adapter's coefficient in this merge (weight x alpha / rank x schedule). */
  coefficient: number;
}

export interface MergeFactors {
  /** U [out, R]: every adapter's up, side by side. */
  up: Float32Array;
  /** D [R, in]: every adapter's down, stacked. */
  down: Float32Array;
  /** [R]: the coefficient of the adapter owning each rank column. */
  scale: Float32Array;
  rank: number;
}

/** One coefficient per rank column, for adapters of the given ranks in order. */
export function rankScales(adapters: readonly { rank: number; coefficient: number }[]): Float32Array {
  const scale = new Float32Array(adapters.reduce((s, a) => s + a.rank, 0));
  let r0 = 0;
  for (const a of adapters) {
    scale.fill(a.coefficient, r0, r0 + a.rank);
    r0 += a.rank;
  }
  return scale;
}

/** Concatenates adapters' factors along the rank axis (the layout one merge launch reads). */
export function concatFactors(
  module: string,
  outFeatures: number,
  inFeatures: number,
  adapters: readonly AdapterFactors[],
): MergeFactors {
  const rank = adapters.reduce((s, a) => s + a.rank, 0);
  const up = new Float32Array(outFeatures * rank);
  const down = new Float32Array(rank * inFeatures);
  let r0 = 0;
  for (const [n, a] of adapters.entries()) {
    if (a.up.length !== outFeatures * a.rank || a.down.length !== a.rank * inFeatures) {
      throw new LorafuseError(
        'lora-shape-mismatch',
        `Adapter "${a.name ?? n}" on ${module}: up has ${a.up.length} values and down ${a.down.length}, ` +
          `expected up [${outFeatures}, ${a.rank}] and down [${a.rank}, ${inFeatures}] for a weight of ` +
          `${outFeatures} x ${inFeatures}. The LoRA was made for a different model.`,
        {
          module,
          adapter: a.name ?? n,
          up: a.up.length,
          down: a.down.length,
          outFeatures,
          inFeatures,
          rank: a.rank,
        },
      );
    }
    for (let o = 0; o < outFeatures; o++) {
      up.set(a.up.subarray(o * a.rank, (o + 1) * a.rank), o * rank + r0);
    }
    down.set(a.down, r0 * inFeatures);
    r0 += a.rank;
  }
  return { up, down, scale: rankScales(adapters), rank };
}

export interface MergeLoraArgs {
  /** The module merged (state-dict key prefix), for labels and errors. */
  module: string;
  dtype: WeightDtype;
  outFeatures: number;
  inFeatures: number;
  /** Total rank R of the concatenated factors. */
  rank: number;
  w0: GPUBuffer;
  up: GPUBuffer;
  scale: GPUBuffer;
  down: GPUBuffer;
  /** Output; may not alias `w0`. */
  wEff: GPUBuffer;
  encoder?: GPUCommandEncoder;
}

/** Encodes (or submits) one merge of a module. */
export async function mergeLora(device: GPUDevice, args: MergeLoraArgs): Promise<void> {
  const { outFeatures: out, inFeatures: inF, rank } = args;
  const weightBytes = weightWords(args.dtype, out * inF) * 4;
  checkBuffers('merge-lora', args.module, `a ${args.dtype} weight ${out} x ${inF} at rank ${rank}`, [
    ['w0', args.w0, weightBytes],
    ['wEff', args.wEff, weightBytes],
    ['up', args.up, out * rank * 4],
    ['scale', args.scale, rank * 4],
    ['down', args.down, rank * inF * 4],
  ]);
  return launch(device, mergeLoraKernel, {
    module: args.module,
    dtype: args.dtype,
    params: { out_features: out, in_features: inF, rank },
    buffers: { w0: args.w0, up: args.up, scale: args.scale, down: args.down, w_eff: args.wEff },
    encoder: args.encoder,
  });
}
