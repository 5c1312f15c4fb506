/**
 * Seeded standard-normal noise that is the same on every platform and engine: a Philox4x32-10
 * counter-based generator (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3") feeding
 * Box-Muller. The logarithm and sine/cosine are computed here from +, -, *, / and sqrt only (all
 * correctly rounded by IEEE 754), so no engine's Math.log/Math.cos rounding can change a value.
 *
 * Normal number i of a seed comes from Philox block floor(i / 4) (counter = block index, key =
 * seed), so a stream can be drawn in any chunking, or resumed at any position, with equal results.
 */
import { LorafuseError } from '../../errors.ts';

export interface NoiseGenerator {
  readonly seed: number;
  /** How many normals were drawn so far; the next one drawn is number `position` of the stream. */
  readonly position: number;
  /** The next `count` normals of the stream. */
  normal(count: number): Float32Array;
  /** Fills `out` with the next `out.length` normals and returns it. */
  fillNormal(out: Float32Array): Float32Array;
}

const PHILOX_M0 = 0xd2511f53;
const PHILOX_M1 = 0xcd9e8d57;
const PHILOX_W0 = 0x9e3779b9;
const PHILOX_W1 = 0xbb67ae85;
const TWO_POW_32 = 4294967296;

/** High 32 bits of the 64-bit product of two uint32 values (exact: every partial is below 2^53). */
function mulhi32(a: number, b: number): number {
  const lo16 = a * (b & 0xffff);
  const mid = a * (b >>> 16) + Math.floor(lo16 / 65536);
  return Math.floor(mid / 65536) >>> 0;
}

/** Philox4x32 with 10 rounds: four uint32 counter words and two key words in, four words out. */
export function philox4x32(
  counter: readonly [number, number, number, number],
  key: readonly [number, number],
): [number, number, number, number] {
  let [c0, c1, c2, c3] = counter.map((x) => x >>> 0) as [number, number, number, number];
  let k0 = key[0] >>> 0;
  let k1 = key[1] >>> 0;
  for (let round = 0; round < 10; round++) {
    const hi0 = mulhi32(PHILOX_M0, c0);
    const lo0 = Math.imul(PHILOX_M0, c0) >>> 0;
    const hi1 = mulhi32(PHILOX_M1, c2);
    const lo1 = Math.imul(PHILOX_M1, c2) >>> 0;
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
    k0 = (k0 + PHILOX_W0) >>> 0;
    k1 = (k1 + PHILOX_W1) >>> 0;
  }
  return [c0, c1, c2, c3];
}

const scratch = new DataView(new ArrayBuffer(8));

/** Natural log of a positive finite double: exponent split plus an atanh series (error < 1e-16 relative). */
export function portableLog(x: number): number {
  scratch.setFloat64(0, x, true);
  const hi = scratch.getUint32(4, true);
  let e = ((hi >>> 20) & 0x7ff) - 1023;
  scratch.setUint32(4, ((hi & 0x000fffff) | 0x3ff00000) >>> 0, true);
  let m = scratch.getFloat64(0, true); // in [1, 2)
  if (m > Math.SQRT2) {
    m /= 2;
    e += 1;
  }
  const s = (m - 1) / (m + 1); // |s| <= 0.1716
  const s2 = s * s;
  let series = 1 / 25;
  for (let k = 11; k >= 0; k--) series = 1 / (2 * k + 1) + s2 * series;
  return e * Math.LN2 + 2 * s * series;
}

/** [cos(2*pi*u), sin(2*pi*u)] for u in [0, 1), by quadrant reduction (exact in u) and Taylor series. */
export function portableCosSin2Pi(u: number): [number, number] {
  const q = Math.round(u * 4);
  const theta = (u * 4 - q) * (Math.PI / 2); // |theta| <= pi/4
  const t2 = theta * theta;
  let sin = 0;
  let cos = 0;
  // Horner from the x^21 / x^20 terms down.
  for (let k = 10; k >= 0; k--) {
    sin = 1 - (t2 / ((2 * k + 2) * (2 * k + 3))) * sin;
    cos = 1 - (t2 / ((2 * k + 1) * (2 * k + 2))) * cos;
  }
  sin *= theta;
  switch (q & 3) {
    case 0:
      return [cos, sin];
    case 1:
      return [-sin, cos];
    case 2:
      return [-cos, -sin];
    default:
      return [sin, -cos];
  }
}

/** Two standard normals from two uint32 words (Box-Muller; u1 is never 0). */
function boxMuller(w0: number, w1: number): [number, number] {
  const u1 = (w0 + 0.5) / TWO_POW_32;
  const u2 = w1 / TWO_POW_32;
  const radius = Math.sqrt(-2 * portableLog(u1));
  const [c, s] = portableCosSin2Pi(u2);
  return [radius * c, radius * s];
}

function checkSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new LorafuseError(
      'invalid-argument',
      `Noise seed must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}, got ${seed}.`,
      { seed },
    );
  }
}

/** Fills `out` with normals number `start`, `start + 1`, ... of the stream for `seed`. */
function fillFrom(seed: number, start: number, out: Float32Array): void {
  const key: [number, number] = [seed % TWO_POW_32, Math.floor(seed / TWO_POW_32)];
  let i = 0;
  while (i < out.length) {
    const index = start + i;
    const block = Math.floor(index / 4);
    const words = philox4x32([block % TWO_POW_32, Math.floor(block / TWO_POW_32), 0, 0], key);
    const [z0, z1] = boxMuller(words[0], words[1]);
    const [z2, z3] = boxMuller(words[2], words[3]);
    const normals = [z0, z1, z2, z3];
    for (let j = index % 4; j < 4 && i < out.length; j++, i++) out[i] = normals[j]!;
  }
}

export function createNoiseGenerator(seed: number, position = 0): NoiseGenerator {
  checkSeed(seed);
  if (!Number.isSafeInteger(position) || position < 0) {
    throw new LorafuseError(
      'invalid-argument',
      `Noise position must be a non-negative integer, got ${position}.`,
      {
        position,
      },
    );
  }
  let pos = position;
  const fillNormal = (out: Float32Array): Float32Array => {
    fillFrom(seed, pos, out);
    pos += out.length;
    return out;
  };
  return {
    seed,
    get position() {
      return pos;
    },
    fillNormal,
    normal: (count) => fillNormal(new Float32Array(count)),
  };
}

/** `count` standard normals, the start of the stream for `seed`. */
export function randn(count: number, seed: number): Float32Array {
  return createNoiseGenerator(seed).normal(count);
}
