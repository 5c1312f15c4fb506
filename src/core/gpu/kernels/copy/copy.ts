/** A plain word copy with the launch machinery of every kernel: the bandwidth baseline. */
import { declareKernel, launch } from '../../kernel.ts';
import { linearDispatch } from '../../weight-words.ts';
import source from './copy.wgsl?raw';

export const copyKernel = declareKernel({
  name: 'copy',
  source,
  params: { words: 'u32' },
  bindings: { src: 'read', dst: 'read-write' },
  overrides: { WG: 256 },
  dtypes: { u32: {} },
  dispatch: (p, o) => linearDispatch(p.words, o.WG),
});

export interface CopyArgs {
  module: string;
  /** u32 words to copy. */
  words: number;
  src: GPUBuffer;
  dst: GPUBuffer;
  encoder?: GPUCommandEncoder;
}

export function copyWords(device: GPUDevice, args: CopyArgs): Promise<void> {
  return launch(device, copyKernel, {
    module: args.module,
    dtype: 'u32',
    params: { words: args.words },
    buffers: { src: args.src, dst: args.dst },
    encoder: args.encoder,
  });
}
