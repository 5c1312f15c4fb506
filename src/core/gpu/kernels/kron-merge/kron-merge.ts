/**
 * LoKr merge on the GPU: `out = base + c * kron(W1, W2)` from the two dense Kronecker factors
 * (rebuilt first when a factor is low-rank or Tucker; see merge-module.ts).
 */
import { checkBuffers } from '../../check-buffers.ts';
import { declareKernel, launch } from '../../kernel.ts';
import { linearDispatch, type WeightDtype, weightWords, withWeightWords } from '../../weight-words.ts';
import source from './kron-merge.wgsl?raw';

export const kronMergeKernel = declareKernel({
  name: 'kron-merge',
  source: withWeightWords(source),
  params: { rows1: 'u32', cols1: 'u32', rows2: 'u32', cols2: 'u32', coefficient: 'f32' },
  bindings: { base: 'read', w1: 'read', w2: 'read', out: 'read-write' },
  overrides: { WG: 256 },
  dtypes: { f32: { PACKED_F16: 0 }, f16: { PACKED_F16: 1 } },
  dispatch: (p, o) => linearDispatch(p.rows1 * p.rows2 * p.cols1 * p.cols2, o.WG),
});

export interface KronMergeArgs {
  module: string;
  dtype: WeightDtype;
  /** W1 [rows1, cols1]. */
  rows1: number;
  cols1: number;
  /** W2 [rows2, cols2]. */
  rows2: number;
  cols2: number;
  coefficient: number;
  base: GPUBuffer;
  w1: GPUBuffer;
  w2: GPUBuffer;
  out: GPUBuffer;
  encoder?: GPUCommandEncoder;
}

export function kronMerge(device: GPUDevice, args: KronMergeArgs): Promise<void> {
  const { rows1, cols1, rows2, cols2 } = args;
  const count = rows1 * rows2 * cols1 * cols2;
  const words = weightWords(args.dtype, count) * 4;
  checkBuffers(
    'kron-merge',
    args.module,
    `kron of [${rows1}, ${cols1}] and [${rows2}, ${cols2}] on a ${args.dtype} weight`,
    [
      ['base', args.base, words],
      ['w1', args.w1, rows1 * cols1 * 4],
      ['w2', args.w2, rows2 * cols2 * 4],
      ['out', args.out, words],
    ],
  );
  return launch(device, kronMergeKernel, {
    module: args.module,
    dtype: args.dtype,
    params: { rows1, cols1, rows2, cols2, coefficient: args.coefficient },
    buffers: { base: args.base, w1: args.w1, w2: args.w2, out: args.out },
    encoder: args.encoder,
  });
}
