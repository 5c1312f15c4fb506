/**
 * Weights stored as u32 words, f32 or packed f16: their word count, the shared WGSL for kernels
 * that read and write them word by word (`weight-words.wgsl`: `PACKED_F16`, `word_unpack`,
 * `word_pack`, ...), and the 2-D dispatch of one invocation per item that such kernels use.
 */
import { packedF16Words } from './f16.ts';
import { MIN_MAX_WORKGROUPS_PER_DIMENSION } from './kernel.ts';
import weightWordsSource from './weight-words.wgsl?raw';

export type WeightDtype = 'f32' | 'f16';

/** u32 words of a weight of `count` elements stored as `dtype`. */
export function weightWords(dtype: WeightDtype, count: number): number {
  return dtype === 'f32' ? count : packedF16Words(count);
}

/** A kernel's source with the weight-word helpers appended (its own line numbers unchanged). */
export function withWeightWords(source: string): string {
  return `${source}\n${weightWordsSource}`;
}

/**
 * Workgroups for `items` invocations of `wg` threads, as [x, y] rows of at most the guaranteed
 * per-dimension limit; the shader's item index is `(wg.y * nwg.x + wg.x) * WG + local index`.
 */
export function linearDispatch(items: number, wg: number): [number, number] {
  const groups = Math.ceil(items / wg);
  const x = Math.min(groups, MIN_MAX_WORKGROUPS_PER_DIMENSION);
  return [x, x === 0 ? 0 : Math.ceil(groups / x)];
}
