/**
 * The seeded uniform stream behind DARE's random keep masks. Counter-based like the diffusion
 * noise (Philox4x32-10 from pipeline/noise.ts, key = seed), with a counter word reserved for this
 * stream so a DARE mask never reuses the noise stream's numbers for the same seed. Number i of a
 * seed is word i % 4 of block floor(i / 4): the same on every platform and engine.
 */
import { LorafuseError } from '../../../errors.ts';
import { philox4x32 } from '../../pipeline/noise.ts';

const TWO_POW_32 = 4294967296;
/** 'DARE' in ASCII: the third counter word of every block of this stream. */
const STREAM_TAG = 0x44415245;

export interface UniformStream {
  readonly seed: number;
  /** How many numbers were drawn so far. */
  readonly position: number;
  /** The next number, uniform on [0, 1) with 2^-32 resolution. */
  next(): number;
}

export function createUniformStream(seed: number): UniformStream {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new LorafuseError(
      'invalid-argument',
      `seed must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}, got ${seed}`,
      { seed },
    );
  }
  const key: [number, number] = [seed % TWO_POW_32, Math.floor(seed / TWO_POW_32)];
  let pos = 0;
  let words: [number, number, number, number] = [0, 0, 0, 0];
  return {
    seed,
    get position() {
      return pos;
    },
    next() {
      const j = pos % 4;
      if (j === 0) {
        const block = pos / 4;
        words = philox4x32([block % TWO_POW_32, Math.floor(block / TWO_POW_32), STREAM_TAG, 0], key);
      }
      pos++;
      return words[j]! / TWO_POW_32;
    },
  };
}
