/**
 * DoRA's per-group factor `magnitude / (||W0 + inside * delta|| + eps)`, one workgroup per group
 * (an output row or an input column of the weight, per the file's magnitude shape).
 */
import { LorafuseError } from '../../../../errors.ts';
import { checkBuffers } from '../../check-buffers.ts';
import { declareKernel, launch } from '../../kernel.ts';
import { type WeightDtype, weightWords, withWeightWords } from '../../weight-words.ts';
import source from './dora-norm.wgsl?raw';

/** A weight seen as [outer, groups, inner]; group g is [:, g, :] (see dora-norm.wgsl). */
export interface DoraGroups {
  outer: number;
  groups: number;
  inner: number;
}

export const doraNormKernel = declareKernel({
  name: 'dora-norm',
  source: withWeightWords(source),
  params: { outer: 'u32', groups: 'u32', inner: 'u32', inside: 'f32', eps: 'f32' },
  bindings: { w0: 'read', delta: 'read', magnitude: 'read', factor: 'read-write' },
  overrides: { WG: 256 },
  dtypes: { f32: { PACKED_F16: 0 }, f16: { PACKED_F16: 1 } },
  dispatch: (p) => [p.groups],
});

export interface DoraNormArgs extends DoraGroups {
  module: string;
  dtype: WeightDtype;
  /** Strength inside the norm (PEFT) or 1 (LyCORIS). */
  inside: number;
  /** Added to the norm: 0 (PEFT) or float32 eps (LyCORIS). */
  eps: number;
  w0: GPUBuffer;
  /** f32, the weight's shape. */
  delta: GPUBuffer;
  /** f32 [groups]. */
  magnitude: GPUBuffer;
  /** f32 [groups], written. */
  factor: GPUBuffer;
  /** Workgroup size, a power of two (default 256). */
  workgroupSize?: number;
  encoder?: GPUCommandEncoder;
}

export function doraNorm(device: GPUDevice, args: DoraNormArgs): Promise<void> {
  const { outer, groups, inner } = args;
  const count = outer * groups * inner;
  const wg = args.workgroupSize ?? doraNormKernel.overrides.WG;
  if (!(Number.isInteger(wg) && wg > 0 && (wg & (wg - 1)) === 0)) {
    throw new LorafuseError('invalid-argument', `dora-norm: workgroup size ${wg} is not a power of two.`, {
      workgroupSize: wg,
    });
  }
  checkBuffers('dora-norm', args.module, `a ${args.dtype} weight [${outer}, ${groups}, ${inner}]`, [
    ['w0', args.w0, weightWords(args.dtype, count) * 4],
    ['delta', args.delta, count * 4],
    ['magnitude', args.magnitude, groups * 4],
    ['factor', args.factor, groups * 4],
  ]);
  return launch(device, doraNormKernel, {
    module: args.module,
    dtype: args.dtype,
    params: { outer, groups, inner, inside: args.inside, eps: args.eps },
    buffers: { w0: args.w0, delta: args.delta, magnitude: args.magnitude, factor: args.factor },
    overrides: { WG: wg },
    encoder: args.encoder,
  });
}
