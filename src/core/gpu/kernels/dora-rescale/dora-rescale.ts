/**
 * DoRA's rescale, in place on the module's delta: `delta = mix * (factor * (W0 + inside * delta) - W0)`,
 * which add-delta then adds to W0 (or to the sum of a module's terms).
 */
import { checkBuffers } from '../../check-buffers.ts';
import { declareKernel, launch } from '../../kernel.ts';
import { linearDispatch, type WeightDtype, weightWords, withWeightWords } from '../../weight-words.ts';
import type { DoraGroups } from '../dora-norm/dora-norm.ts';
import source from './dora-rescale.wgsl?raw';

export const doraRescaleKernel = declareKernel({
  name: 'dora-rescale',
  source: withWeightWords(source),
  params: { count: 'u32', groups: 'u32', inner: 'u32', inside: 'f32', mix: 'f32' },
  bindings: { w0: 'read', factor: 'read', delta: 'read-write' },
  overrides: { WG: 256 },
  dtypes: { f32: { PACKED_F16: 0 }, f16: { PACKED_F16: 1 } },
  dispatch: (p, o) => linearDispatch(p.count, o.WG),
});

export interface DoraRescaleArgs extends DoraGroups {
  module: string;
  dtype: WeightDtype;
  inside: number;
  /** 1 (PEFT) or the strength (LyCORIS). */
  mix: number;
  w0: GPUBuffer;
  /** f32 [groups], from dora-norm. */
  factor: GPUBuffer;
  /** f32, read and rewritten. */
  delta: GPUBuffer;
  encoder?: GPUCommandEncoder;
}

export function doraRescale(device: GPUDevice, args: DoraRescaleArgs): Promise<void> {
  const { outer, groups, inner } = args;
  const count = outer * groups * inner;
  checkBuffers('dora-rescale', args.module, `a ${args.dtype} weight [${outer}, ${groups}, ${inner}]`, [
    ['w0', args.w0, weightWords(args.dtype, count) * 4],
    ['factor', args.factor, groups * 4],
    ['delta', args.delta, count * 4],
  ]);
  return launch(device, doraRescaleKernel, {
    module: args.module,
    dtype: args.dtype,
    params: { count, groups, inner, inside: args.inside, mix: args.mix },
    buffers: { w0: args.w0, factor: args.factor, delta: args.delta },
    encoder: args.encoder,
  });
}
