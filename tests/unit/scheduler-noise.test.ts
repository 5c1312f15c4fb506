/**
 * The seeded Gaussian generator: Philox4x32-10 against the Random123 known-answer vectors,
 * portable log/sin/cos against Math (which they replace only for cross-engine determinism),
 * reproducibility, chunking invariance, and the first two moments.
 */
import { describe, expect, it } from 'vitest';
import {
  createNoiseGenerator,
  philox4x32,
  portableCosSin2Pi,
  portableLog,
  randn,
} from '../../src/core/pipeline/noise.ts';
import { LorafuseError } from '../../src/errors.ts';

describe('philox4x32-10', () => {
  // Random123 kat_vectors, philox4x32 with 10 rounds.
  it.each([
    [
      [0, 0, 0, 0],
      [0, 0],
      [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8],
    ],
    [
      [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
      [0xffffffff, 0xffffffff],
      [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
    ],
    [
      [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
      [0xa4093822, 0x299f31d0],
      [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
    ],
  ])('counter %j key %j', (counter, key, want) => {
    expect(philox4x32(counter as [number, number, number, number], key as [number, number])).toEqual(want);
  });
});

describe('portable transcendental functions', () => {
  it('log agrees with Math.log to 1e-15 relative', () => {
    for (const x of [1e-10, 2.3283064365386963e-10, 0.001, 0.25, 0.5, Math.SQRT1_2, 0.9999999, 1, 3, 1e6]) {
      expect(Math.abs(portableLog(x) - Math.log(x))).toBeLessThanOrEqual(
        1e-15 * Math.max(1, Math.abs(Math.log(x))),
      );
    }
  });
  it('cos/sin(2 pi u) agree with Math to 1e-15', () => {
    for (let k = 0; k < 1000; k++) {
      const u = k / 1000 + 1e-4;
      const [c, s] = portableCosSin2Pi(u);
      expect(Math.abs(c - Math.cos(2 * Math.PI * u))).toBeLessThan(1e-15);
      expect(Math.abs(s - Math.sin(2 * Math.PI * u))).toBeLessThan(1e-15);
    }
  });
});

describe('noise generator', () => {
  it('is reproducible per seed and differs between seeds', () => {
    expect(randn(1000, 42)).toEqual(randn(1000, 42));
    expect(randn(1000, 42)).not.toEqual(randn(1000, 43));
    expect(randn(10, 2 ** 40)).not.toEqual(randn(10, 0));
  });

  it('matches an independent Python implementation of the same spec (Philox words, Box-Muller)', () => {
    // Computed with Python ints for Philox and libm log/sqrt/cos/sin, rounded to float32; the
    // 1e-6 tolerance only covers a last-bit difference between libm and the portable functions.
    const python: Record<number, number[]> = {
      0: [
        0.991137683391571, -0.9246625900268555, -0.6176089644432068, -0.48206859827041626,
        -0.15363822877407074, 0.18082590401172638, 0.8317351341247559, 0.19743971526622772,
        -1.186357855796814, 2.5440971851348877,
      ],
      8589934597: [
        0.055327825248241425, -0.8093299865722656, -1.2447396516799927, 0.9951859712600708,
        -0.1326051652431488, 0.3355804979801178, 0.925327479839325, 0.14124546945095062, 1.1069023609161377,
        1.399686336517334,
      ],
    };
    for (const [seed, want] of Object.entries(python)) {
      const got = randn(10, Number(seed));
      want.forEach((w, i) => {
        expect(Math.abs(got[i]! - w)).toBeLessThan(1e-6);
      });
    }
  });

  it('gives the same stream whatever the chunking, and resumes at a position', () => {
    const whole = randn(103, 9);
    const g = createNoiseGenerator(9);
    const parts = [g.normal(1), g.normal(6), g.normal(0), g.normal(96)];
    expect(Float32Array.from(parts.flatMap((p) => Array.from(p)))).toEqual(whole);
    expect(g.position).toBe(103);
    expect(createNoiseGenerator(9, 37).normal(20)).toEqual(whole.slice(37, 57));
  });

  it('has mean 0 and variance 1 (n = 2^20, 5 standard errors)', () => {
    const n = 2 ** 20;
    const z = randn(n, 1234);
    let sum = 0;
    let sq = 0;
    let fourth = 0;
    for (const x of z) {
      sum += x;
      sq += x * x;
      fourth += x ** 4;
    }
    const mean = sum / n;
    const variance = sq / n - mean * mean;
    expect(Math.abs(mean)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(variance - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
    expect(Math.abs(fourth / n - 3)).toBeLessThan(5 * Math.sqrt(96 / n)); // Gaussian kurtosis
    expect(z.every(Number.isFinite)).toBe(true);
  });

  it('rejects seeds that are not safe non-negative integers', () => {
    for (const seed of [-1, 1.5, Number.NaN, 2 ** 53]) {
      expect(() => createNoiseGenerator(seed)).toThrow(LorafuseError);
    }
  });
});
