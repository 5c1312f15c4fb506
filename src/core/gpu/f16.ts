/**
 * IEEE half precision on the CPU, and the packed layout the kernels use for f16 weights: two
 * f16 per u32, element 2k in the low half and 2k+1 in the high half of word k (what WGSL's
 * `unpack2x16float`/`pack2x16float` read and write, and the bytes of a little-endian f16
 * tensor). An odd element count pads the last word's high half with +0.
 */

/** The largest finite f16. */
export const F16_MAX_FINITE = 65504;
/** Values at or above this round to infinity (halfway between 65504 and the next step 65536). */
const F16_OVERFLOW = 65520;
const F16_MIN_NORMAL = 2 ** -14;
const F16_SUBNORMAL_STEP = 2 ** -24;
const MANTISSA_STEPS = 1024;

function roundHalfEven(q: number): number {
  const f = Math.floor(q);
  const d = q - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** f16 bits of `x` (any JS number), rounded to nearest, ties to even, from the exact value. */
export function f32ToF16Bits(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= F16_OVERFLOW) return sign | 0x7c00;
  if (a < F16_MIN_NORMAL) return sign | roundHalfEven(a / F16_SUBNORMAL_STEP);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  // a / 2^e is in [1, 2) and exact; so is the subtraction of 1 and the scaling by 1024.
  const m = roundHalfEven((a / 2 ** e - 1) * MANTISSA_STEPS);
  // m may round up to 1024: the carry lands in the exponent field, which is the right value.
  return sign | (((e + 15) << 10) + m);
}

/** The value of f16 bits `h`. */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const man = h & 0x3ff;
  if (exp === 0) return sign * man * F16_SUBNORMAL_STEP;
  if (exp === 0x1f) return man ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exp - 15) * (1 + man / MANTISSA_STEPS);
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
