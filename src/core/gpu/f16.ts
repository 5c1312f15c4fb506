/**
 * IEEE half precision on the CPU, and the packed layout the kernels use for f16 weights: two
 * f16 per u32, element 2k in the low half and 2k+1 in the high half of word k (what WGSL's
 * `unpack2x16float`/`pack2x16float` read and write, and the bytes of a little-endian f16
 * tensor). An odd element count pads the last word's high half with +0.
 */

import { f16ToF32, f32BitsToF16 } from '../io/safetensors/convert.ts';

/** The largest finite f16. */
export const F16_MAX_FINITE = 65504;

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

/**
 * f16 bits of `x`, rounded to nearest, ties to even, from its float32 value (the conversion of
 * io/safetensors/convert.ts: one implementation for uploads and kernels alike).
 */
export function f32ToF16Bits(x: number): number {
  scratch[0] = x;
  return f32BitsToF16(scratchBits[0]!);
}

/** The value of f16 bits `h`. */
export function f16BitsToF32(h: number): number {
  return f16ToF32(Uint16Array.of(h))[0]!;
}

/** `x` rounded to the nearest f16 (as a JS number). */
export function roundToF16(x: number): number {
  return f16BitsToF32(f32ToF16Bits(x));
}

/** u32 words holding `count` packed f16 values (an odd count pads one half). */
export function packedF16Words(count: number): number {
  return Math.ceil(count / 2);
}

/** Packs values (rounded to f16) two per u32. */
export function packF16(values: ArrayLike<number>): Uint32Array {
  const out = new Uint32Array(packedF16Words(values.length));
  for (let i = 0; i < values.length; i++) {
    const h = f32ToF16Bits(values[i]!);
    out[i >> 1]! |= (i & 1 ? h << 16 : h) >>> 0;
  }
  return out;
}

/** Packs raw f16 bit patterns (e.g. a safetensors F16 tensor) two per u32. */
export function packF16Bits(bits: Uint16Array): Uint32Array {
  const out = new Uint32Array(packedF16Words(bits.length));
  for (let i = 0; i < bits.length; i++) out[i >> 1]! |= (i & 1 ? bits[i]! << 16 : bits[i]!) >>> 0;
  return out;
}

/** The f16 bits of element `i` of packed words. */
export function packedF16BitsAt(words: Uint32Array, i: number): number {
  const w = words[i >> 1]!;
  return i & 1 ? w >>> 16 : w & 0xffff;
}

/** Unpacks the first `count` f16 values of packed words. */
export function unpackF16(words: Uint32Array, count: number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = f16BitsToF32(packedF16BitsAt(words, i));
  return out;
}
