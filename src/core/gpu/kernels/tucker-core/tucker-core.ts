/**
 * The core contraction of a Tucker rebuild, `out[i, (q, k)] = sum_j core[i, j, k] wb[j, q]`,
 * which makes LoCon/LoHa/LoKr Tucker factors an ordinary `up · down` pair for the merge kernels.
 */
import { checkBuffers } from '../../check-buffers.ts';
import { declareKernel, launch } from '../../kernel.ts';
import { linearDispatch } from '../../weight-words.ts';
import source from './tucker-core.wgsl?raw';

export const tuckerCoreKernel = declareKernel({
  name: 'tucker-core',
  source,
  params: { r1: 'u32', r2: 'u32', q: 'u32', kernel: 'u32' },
  bindings: { core: 'read', wb: 'read', out: 'read-write' },
  overrides: { WG: 256 },
  dtypes: { f32: {} },
  dispatch: (p, o) => linearDispatch(p.r1 * p.q * p.kernel, o.WG),
});

/** Sizes of a Tucker core contraction: core [r1, r2, kernel], wb [r2, q]. */
export interface TuckerCoreShape {
  r1: number;
  r2: number;
  q: number;
  /** kh * kw (1 for a linear core). */
  kernel: number;
}

export interface TuckerCoreArgs extends TuckerCoreShape {
  module: string;
  core: GPUBuffer;
  wb: GPUBuffer;
  /** f32 [r1, q * kernel]. */
  out: GPUBuffer;
  encoder?: GPUCommandEncoder;
}

export function tuckerCore(device: GPUDevice, args: TuckerCoreArgs): Promise<void> {
  const { r1, r2, q, kernel } = args;
  checkBuffers('tucker-core', args.module, `core [${r1}, ${r2}, ${kernel}] and wb [${r2}, ${q}]`, [
    ['core', args.core, r1 * r2 * kernel * 4],
    ['wb', args.wb, r2 * q * 4],
    ['out', args.out, r1 * q * kernel * 4],
  ]);
  return launch(device, tuckerCoreKernel, {
    module: args.module,
    dtype: 'f32',
    params: { r1, r2, q, kernel },
    buffers: { core: args.core, wb: args.wb, out: args.out },
    encoder: args.encoder,
  });
}
