/**
 * LoHa merge on the GPU: `out = base + c * (up1 · down1) ⊙ (up2 · down2)` for one module in one
 * launch, neither product written to memory. Tucker LoHa goes through the same kernel after
 * tucker-core rebuilds each `down` (merge-module.ts).
 */
import { checkBuffers } from '../../check-buffers.ts';
import { declareKernel, launch } from '../../kernel.ts';
import { type WeightDtype, weightWords, withWeightWords } from '../../weight-words.ts';
import source from './loha.wgsl?raw';

/** Each thread computes BLOCK x BLOCK outputs (the WGSL const of the same name). */
const BLOCK = 4;

export const lohaKernel = declareKernel({
  name: 'loha',
  source: withWeightWords(source),
  params: { out_features: 'u32', in_features: 'u32', rank1: 'u32', rank2: 'u32', coefficient: 'f32' },
  bindings: { base: 'read', up1: 'read', down1: 'read', up2: 'read', down2: 'read', out: 'read-write' },
  overrides: { WG_O: 16, WG_I: 16, R_CHUNK: 16 },
  consts: { BLOCK },
  dtypes: { f32: { PACKED_F16: 0 }, f16: { PACKED_F16: 1 } },
  dispatch: (p, o) => [
    Math.ceil(p.in_features / (o.WG_I * BLOCK)),
    Math.ceil(p.out_features / (o.WG_O * BLOCK)),
  ],
});

export interface LohaArgs {
  module: string;
  dtype: WeightDtype;
  outFeatures: number;
  inFeatures: number;
  rank1: number;
  rank2: number;
  coefficient: number;
  base: GPUBuffer;
  /** [out, rank1]. */
  up1: GPUBuffer;
  /** [rank1, in]. */
  down1: GPUBuffer;
  /** [out, rank2]. */
  up2: GPUBuffer;
  /** [rank2, in]. */
  down2: GPUBuffer;
  out: GPUBuffer;
  encoder?: GPUCommandEncoder;
}

export function loha(device: GPUDevice, args: LohaArgs): Promise<void> {
  const { outFeatures: o, inFeatures: i, rank1, rank2 } = args;
  const words = weightWords(args.dtype, o * i) * 4;
  checkBuffers('loha', args.module, `a ${args.dtype} weight ${o} x ${i} at ranks ${rank1} and ${rank2}`, [
    ['base', args.base, words],
    ['up1', args.up1, o * rank1 * 4],
    ['down1', args.down1, rank1 * i * 4],
    ['up2', args.up2, o * rank2 * 4],
    ['down2', args.down2, rank2 * i * 4],
    ['out', args.out, words],
  ]);
  return launch(device, lohaKernel, {
    module: args.module,
    dtype: args.dtype,
    params: { out_features: o, in_features: i, rank1, rank2, coefficient: args.coefficient },
    buffers: {
      base: args.base,
      up1: args.up1,
      down1: args.down1,
      up2: args.up2,
      down2: args.down2,
      out: args.out,
    },
    encoder: args.encoder,
  });
}
