/** NaN/Inf: deltaWeight refuses (lora-nonfinite) naming the file, the module and the key. */
import { describe, expect, it } from 'vitest';
import { deltaWeight } from '../../src/core/lora/merge-cpu.ts';
import { isLorafuseError } from '../../src/errors.ts';
import { mod, t } from './lora-math-helpers.ts';

const keys = ['lora_unet_a.lora_down.weight', 'lora_unet_a.lora_up.weight', 'lora_unet_a.alpha'];

describe('non-finite factors', () => {
  it('a NaN in lora_up is refused, naming the file and the key', () => {
    const m = mod('lora', { up: t([2, 1], [Number.NaN, 1]), down: t([1, 2], [1, 1]) }, 1, 1, {
      sourceKeys: keys,
    });
    try {
      deltaWeight(m, undefined, 1, { source: 'bad.safetensors' });
      expect.unreachable();
    } catch (e) {
      expect(isLorafuseError(e) && e.code).toBe('lora-nonfinite');
      expect((e as Error).message).toContain('bad.safetensors');
      expect((e as Error).message).toContain('lora_unet_a.lora_up.weight');
    }
  });

  it('finite factors whose product overflows are refused too', () => {
    const m = mod('lora', { up: t([1, 1], [3e38]), down: t([1, 1], [10]) }, 1, 1, { sourceKeys: keys });
    expect(() => deltaWeight(m)).toThrow(/NaN\/Inf/);
  });

  it('names the LyCORIS key of the bad factor, with its count', () => {
    const bad = mod(
      'loha',
      {
        w1a: t([1, 1], [1]),
        w1b: t([1, 2], [Infinity, -Infinity]),
        w2a: t([1, 1], [1]),
        w2b: t([1, 2], [1, 1]),
      },
      1,
      1,
      { sourceKeys: ['x.hada_w1_a', 'x.hada_w1_b', 'x.hada_w2_a', 'x.hada_w2_b'] },
    );
    expect(() => deltaWeight(bad)).toThrow(/key 'x\.hada_w1_b' \(2 NaN\/Inf values\)/);
  });

  it('weight 0 takes the module out of the mix without computing it', () => {
    const m = mod('lora', { up: t([1, 1], [Number.NaN]), down: t([1, 1], [1]) }, 1, 1, { sourceKeys: keys });
    expect(Array.from(deltaWeight(m, undefined, 0).weight.data)).toEqual([0]);
  });

  it('a NaN alpha is refused, naming the alpha key', () => {
    const m = mod('lora', { up: t([1, 1], [1]), down: t([1, 1], [1]) }, 1, Number.NaN, { sourceKeys: keys });
    expect(() => deltaWeight(m)).toThrow(/alpha is NaN \(key 'lora_unet_a\.alpha'\)/);
  });
});
