/**
 * The shared WGSL for kernels that read and write weights word by word in f32 or packed f16
 * (`weight-words.wgsl`: `PACKED_F16`, `word_unpack`, `word_pack`, ...), and the 2-D dispatch of
 * one invocation per item that such kernels use.
 */
import { MIN_MAX_WORKGROUPS_PER_DIMENSION } from './kernel.ts';
import weightWordsSource from './weight-words.wgsl?raw';

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
