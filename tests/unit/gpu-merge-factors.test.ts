import { describe, expect, it } from 'vitest';
import { concatFactors, mergeShape, rankScales } from '../../src/core/gpu/kernels/merge-lora/merge-lora.ts';
import { weightWords } from '../../src/core/gpu/weight-words.ts';

describe('merge-lora factor layout (CPU side)', () => {
  it('concatenates ups side by side and downs stacked, one scale per rank column', () => {
    // out 2, in 3; adapter A rank 1, adapter B rank 2.
    const a = {
      name: 'A',
      rank: 1,
      up: Float32Array.from([1, 2]),
      down: Float32Array.from([3, 4, 5]),
      coefficient: 0.5,
    };
    const b = {
      name: 'B',
      rank: 2,
      up: Float32Array.from([6, 7, 8, 9]),
      down: Float32Array.from([10, 11, 12, 13, 14, 15]),
      coefficient: -2,
    };
    const f = concatFactors('m', 2, 3, [a, b]);
    expect(f.rank).toBe(3);
    expect(Array.from(f.up)).toEqual([1, 6, 7, 2, 8, 9]);
    expect(Array.from(f.down)).toEqual([3, 4, 5, 10, 11, 12, 13, 14, 15]);
    expect(Array.from(f.scale)).toEqual([0.5, -2, -2]);
    expect(
      Array.from(
        rankScales([
          { rank: 2, coefficient: 3 },
          { rank: 0, coefficient: 9 },
          { rank: 1, coefficient: 1 },
        ]),
      ),
    ).toEqual([3, 3, 1]);
  });

  it('refuses factors of the wrong size, naming module and adapter', () => {
    const bad = {
      name: 'style',
      rank: 2,
      up: new Float32Array(4),
      down: new Float32Array(5),
      coefficient: 1,
    };
    expect(() => concatFactors('unet.x.to_q', 2, 3, [bad])).toThrow(/"style" on unet\.x\.to_q/);
  });

  it('merges a conv as [out, in_ch * kh * kw]; f16 words round up', () => {
    expect(mergeShape([8, 5, 3, 3])).toEqual({ outFeatures: 8, inFeatures: 45 });
    expect(mergeShape([320, 768])).toEqual({ outFeatures: 320, inFeatures: 768 });
    expect(() => mergeShape([5])).toThrow(/2 or more dims/);
    expect(weightWords('f16', 91)).toBe(46);
    expect(weightWords('f32', 91)).toBe(91);
  });
});
