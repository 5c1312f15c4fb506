import { describe, expect, it } from 'vitest';
import {
  F16_MAX_FINITE,
  f16BitsToF32,
  f32ToF16Bits,
  packedF16BitsAt,
  packF16,
  packF16Bits,
  roundToF16,
  unpackF16,
} from '../../src/core/gpu/f16.ts';

describe('f16 conversion', () => {
  it('decodes known bit patterns', () => {
    const known: [number, number][] = [
      [0x0000, 0],
      [0x3c00, 1],
      [0xc000, -2],
      [0x3555, 0.333251953125],
      [0x7bff, 65504],
      [0x0400, 2 ** -14],
      [0x0001, 2 ** -24],
      [0x03ff, 1023 * 2 ** -24],
      [0x7c00, Number.POSITIVE_INFINITY],
      [0xfc00, Number.NEGATIVE_INFINITY],
    ];
    for (const [bits, value] of known) expect(f16BitsToF32(bits), bits.toString(16)).toBe(value);
    expect(f16BitsToF32(0x7e00)).toBeNaN();
    expect(Object.is(f16BitsToF32(0x8000), -0)).toBe(true);
    expect(F16_MAX_FINITE).toBe(f16BitsToF32(0x7bff));
  });

  it('round-trips every non-NaN f16 exactly', () => {
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) continue;
      if (f32ToF16Bits(f16BitsToF32(h)) !== h) throw new Error(`0x${h.toString(16)} does not round-trip`);
    }
  });

  it('rounds to nearest with ties to even between every pair of adjacent finite f16', () => {
    for (let h = 0; h < 0x7bff; h++) {
      const lo = f16BitsToF32(h);
      const hi = f16BitsToF32(h + 1);
      const mid = (lo + hi) / 2;
      const even = h % 2 === 0 ? h : h + 1;
      const step = (hi - lo) / 1024;
      if (f32ToF16Bits(mid) !== even) throw new Error(`tie between 0x${h.toString(16)} and the next`);
      if (f32ToF16Bits(mid - step) !== h || f32ToF16Bits(mid + step) !== h + 1) {
        throw new Error(`off-tie rounding near 0x${h.toString(16)}`);
      }
      if (f32ToF16Bits(-(mid + step)) !== (0x8000 | (h + 1)))
        throw new Error(`sign near 0x${h.toString(16)}`);
    }
  });

  it('overflows to Inf at the f16 rounding boundary, keeps NaN and -0', () => {
    expect(f32ToF16Bits(65519.99)).toBe(0x7bff);
    expect(f32ToF16Bits(65520)).toBe(0x7c00);
    expect(f32ToF16Bits(-1e10)).toBe(0xfc00);
    expect(f32ToF16Bits(Number.NaN) & 0x7c00).toBe(0x7c00);
    expect(f32ToF16Bits(Number.NaN) & 0x3ff).not.toBe(0);
    expect(f32ToF16Bits(-0)).toBe(0x8000);
    expect(f32ToF16Bits(2 ** -26)).toBe(0);
    expect(roundToF16(0.1)).toBe(0.0999755859375);
  });
});

describe('packed f16', () => {
  it('puts element 2k in the low half and pads an odd count with +0', () => {
    const words = packF16([1, 2, 3]);
    expect(Array.from(words)).toEqual([0x40003c00, 0x00004200]);
    expect(packedF16BitsAt(words, 1)).toBe(0x4000);
    expect(Array.from(unpackF16(words, 3))).toEqual([1, 2, 3]);
  });

  it('matches the bytes of a little-endian f16 tensor', () => {
    const bits = Uint16Array.from([0x3c00, 0xc000, 0x3555, 0x7bff, 0x0001]);
    const words = packF16Bits(bits);
    expect(new Uint8Array(words.buffer, 0, bits.byteLength)).toEqual(new Uint8Array(bits.buffer));
    expect(Array.from(words)).toEqual(Array.from(packF16(Array.from(bits, f16BitsToF32))));
  });
});
