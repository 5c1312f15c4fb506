/**
 * Half-precision conversions against independent arithmetic: halves decoded with the IEEE formula
 * in float64, and float32 -> half/bfloat16 rounding by nearest-value search over the decoded
 * tables (ties to the even pattern), never by the bit tricks under test.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../src/core/io/safetensors.ts';

/** IEEE binary16 value by the formula. */
function halfValue(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** bfloat16 value by the formula; `inf` is what 0x7f80 counts as (2^128 when rounding). */
function bf16Value(b: number, inf = Number.POSITIVE_INFINITY): number {
  const s = b & 0x8000 ? -1 : 1;
  const e = (b >> 7) & 0xff;
  const m = b & 0x7f;
  if (e === 0) return s * m * 2 ** -133;
  if (e === 255) return m ? Number.NaN : s * inf;
  return s * (1 + m / 128) * 2 ** (e - 127);
}

const f32 = (bits: number) => new Float32Array(new Uint32Array([bits]).buffer)[0]!;

/** Nearest of two neighbours lo < a < hi (patterns pLo, pHi = pLo + 1), ties to the even one. */
function nearest(a: number, lo: number, hi: number, pLo: number): number {
  if (a - lo < hi - a) return pLo;
  if (a - lo > hi - a) return pLo + 1;
  return pLo % 2 === 0 ? pLo : pLo + 1;
}

/** Reference float32 -> half: search the 0x0000..0x7c00 table (0x7c00 counted as 65536 = next step). */
function refF16(x: number): number {
  if (Number.isNaN(x)) return -1; // any NaN pattern
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  const val = (p: number) => (p === 0x7c00 ? 65536 : halfValue(p));
  if (a >= 65536) return sign | 0x7c00;
  let lo = 0;
  let hi = 0x7c00; // val(lo) <= a < val(hi)
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (val(mid) <= a) lo = mid;
    else hi = mid;
  }
  return sign | (val(lo) === a ? lo : nearest(a, val(lo), val(hi), lo));
}

function refBf16(bits: number): number {
  const x = f32(bits);
  if (Number.isNaN(x)) return -1;
  const lo = bits >>> 16;
  const a = Math.abs(x);
  const vLo = Math.abs(bf16Value(lo, 2 ** 128));
  if (vLo === a) return lo;
  const vHi = Math.abs(bf16Value(lo + 1, 2 ** 128));
  const sign = lo & 0x8000;
  return sign | nearest(a, vLo, vHi, lo & 0x7fff);
}

describe('f16ToF32', () => {
  it('decodes known bit patterns', () => {
    const out = f16ToF32(
      new Uint16Array([0x3c00, 0x7bff, 0x0001, 0xfc00, 0x7c00, 0x8000, 0x0000, 0xc000, 0x3555]),
    );
    expect(out[0]).toBe(1);
    expect(out[1]).toBe(65504);
    expect(out[2]).toBe(2 ** -24);
    expect(out[3]).toBe(Number.NEGATIVE_INFINITY);
    expect(out[4]).toBe(Number.POSITIVE_INFINITY);
    expect(Object.is(out[5], -0)).toBe(true);
    expect(Object.is(out[6], 0)).toBe(true);
    expect(out[7]).toBe(-2);
    expect(out[8]).toBe(0.333251953125);
    expect(f16ToF32(new Uint16Array([0x7e00, 0xfc01, 0x7c01]))).toSatisfy((a: Float32Array) =>
      a.every(Number.isNaN),
    );
  });

  it('equals the IEEE formula for all 65536 patterns', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const got = f16ToF32(all);
    for (let h = 0; h < 65536; h++) {
      const want = halfValue(h);
      if (!Object.is(got[h], want) && !(Number.isNaN(want) && Number.isNaN(got[h]))) {
        throw new Error(`0x${h.toString(16)}: got ${got[h]}, want ${want}`);
      }
    }
  });
});

describe('f32ToF16', () => {
  it('rounds known values and ties to even', () => {
    const cases: Array<[number, number]> = [
      [1, 0x3c00],
      [65504, 0x7bff],
      [65519.99, 0x7bff],
      [65520, 0x7c00], // tie between 65504 (odd) and the next step: Inf
      [1e6, 0x7c00],
      [-1e6, 0xfc00],
      [2 ** -24, 0x0001],
      [2 ** -25, 0x0000], // tie between 0 (even) and 1 subnormal
      [3 * 2 ** -25, 0x0002], // tie between 1 and 2: even
      [2 ** -25 * 1.0000001, 0x0001],
      [1 + 2 ** -11, 0x3c00], // tie: 1 (even mantissa)
      [1 + 3 * 2 ** -11, 0x3c02], // tie: up to the even mantissa
      [2 ** -14 - 2 ** -25, 0x0400], // largest-subnormal tie rounds up into the smallest normal
      [-0, 0x8000],
      [Number.NEGATIVE_INFINITY, 0xfc00],
    ];
    const got = f32ToF16(Float32Array.from(cases, (c) => c[0]));
    expect(Array.from(got, (h) => h.toString(16))).toEqual(cases.map((c) => c[1].toString(16)));
    const nan = f32ToF16(new Float32Array([Number.NaN, -Number.NaN]));
    for (const h of nan) expect((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0).toBe(true);
  });

  it('round-trips every half pattern (NaN stays NaN)', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const back = f32ToF16(f16ToF32(all));
    for (let h = 0; h < 65536; h++) {
      if (Number.isNaN(halfValue(h))) expect(Number.isNaN(halfValue(back[h]!))).toBe(true);
      else if (back[h] !== h) throw new Error(`0x${h.toString(16)} -> 0x${back[h]!.toString(16)}`);
    }
  });

  it('rounds every midpoint between adjacent finite halves (and its neighbours) to even', () => {
    const xs: number[] = [];
    for (let h = 0; h < 0x7bff; h++) {
      const mid = Math.fround((halfValue(h) + halfValue(h + 1)) / 2); // exact: 12 significant bits
      xs.push(mid, -mid, mid * (1 + 2 ** -22), mid * (1 - 2 ** -22));
    }
    const got = f32ToF16(Float32Array.from(xs));
    const f = Float32Array.from(xs);
    for (let i = 0; i < xs.length; i++) {
      if (got[i] !== refF16(f[i]!)) throw new Error(`${f[i]}: got 0x${got[i]!.toString(16)}`);
    }
  });

  it('equals the nearest-value search for random float32 bit patterns', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 1, maxLength: 64 }),
        (bits) => {
          const f = new Float32Array(Uint32Array.from(bits).buffer);
          const got = f32ToF16(f);
          f.forEach((x, i) => {
            const want = refF16(x);
            if (want < 0) expect(Number.isNaN(halfValue(got[i]!))).toBe(true);
            else expect(got[i]!.toString(16)).toBe(want.toString(16));
          });
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('bfloat16', () => {
  it('decodes known patterns', () => {
    const out = bf16ToF32(new Uint16Array([0x3f80, 0xc000, 0x7f80, 0xff80, 0x0001, 0x8000, 0x7fc0]));
    expect(Array.from(out.subarray(0, 6))).toEqual([1, -2, Infinity, -Infinity, 2 ** -133, -0]);
    expect(Number.isNaN(out[6])).toBe(true);
  });

  it('rounds to nearest even, NaN preserved, overflow to Inf', () => {
    const bits = [0x3f808000, 0x3f818000, 0x3f808001, 0x7f7fffff, 0x7fc00001, 0xff800001, 0x00008000];
    const got = f32ToBf16(new Float32Array(Uint32Array.from(bits).buffer));
    expect(Array.from(got.subarray(0, 4), (h) => h.toString(16))).toEqual(['3f80', '3f82', '3f81', '7f80']);
    expect(Number.isNaN(bf16Value(got[4]!)) && Number.isNaN(bf16Value(got[5]!))).toBe(true);
    expect(got[6]).toBe(0); // tie between 0 (even) and the smallest bf16 subnormal
  });

  it('equals the nearest-value search for random float32 bit patterns', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 1, maxLength: 64 }),
        (bits) => {
          const got = f32ToBf16(new Float32Array(Uint32Array.from(bits).buffer));
          bits.forEach((b, i) => {
            const want = refBf16(b);
            if (want < 0) expect(Number.isNaN(bf16Value(got[i]!))).toBe(true);
            else expect(got[i]!.toString(16)).toBe(want.toString(16));
          });
        },
      ),
      { numRuns: 2000 },
    );
  });
});
