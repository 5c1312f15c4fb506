/**
 * `out = base + c * delta` for a weight stored as f32 or packed f16, the delta in f32: the merge
 * of LyCORIS full and norm modules and of bias deltas, and the last step of every merge that
 * builds its delta in a scratch buffer first (DoRA, several non-LoRA terms on one module).
 */
import { checkBuffers } from '../../check-buffers.ts';
import { declareKernel, launch } from '../../kernel.ts';
import { linearDispatch, type WeightDtype, weightWords, withWeightWords } from '../../weight-words.ts';
import source from './add-delta.wgsl?raw';

export const addDeltaKernel = declareKernel({
  name: 'add-delta',
  source: withWeightWords(source),
  params: { count: 'u32', coefficient: 'f32' },
  bindings: { base: 'read', delta: 'read', out: 'read-write' },
  overrides: { WG: 256 },
  dtypes: { f32: { PACKED_F16: 0 }, f16: { PACKED_F16: 1 } },
  dispatch: (p, o) => linearDispatch(p.count, o.WG),
});

export interface AddDeltaArgs {
  /** The module (state-dict key prefix), for labels and errors. */
  module: string;
  dtype: WeightDtype;
  /** Elements of the weight. */
  count: number;
  coefficient: number;
  base: GPUBuffer;
  /** f32 [count]. */
  delta: GPUBuffer;
  /** Output; may not alias `base` or `delta`. */
  out: GPUBuffer;
  encoder?: GPUCommandEncoder;
}

export function addDelta(device: GPUDevice, args: AddDeltaArgs): Promise<void> {
  const words = weightWords(args.dtype, args.count) * 4;
  checkBuffers('add-delta', args.module, `${args.count} ${args.dtype} elements`, [
    ['base', args.base, words],
    ['delta', args.delta, args.count * 4],
    ['out', args.out, words],
  ]);
  return launch(device, addDeltaKernel, {
    module: args.module,
    dtype: args.dtype,
    params: { count: args.count, coefficient: args.coefficient },
    buffers: { base: args.base, delta: args.delta, out: args.out },
    encoder: args.encoder,
  });
}
