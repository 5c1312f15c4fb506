/**
 * One source for how alpha and rank become a scale: `effectiveAlpha` (what the writers store) and
 * `moduleScale` (what every merge multiplies by) agree on every module, and a module whose alpha
 * is not finite is refused by both, by the merge and by the writers alike.
 */
import { describe, expect, it } from 'vitest';
import { readSafetensors } from '../../src/core/io/safetensors.ts';
import type { AdapterModule, CanonicalAdapter } from '../../src/core/lora/adapter.ts';
import { effectiveAlpha, moduleScale } from '../../src/core/lora/merge-cpu.ts';
import { writeKohya } from '../../src/core/lora/write/kohya.ts';
import { writePeft } from '../../src/core/lora/write/peft.ts';
import { isLorafuseError } from '../../src/errors.ts';
import { mod, rand, rng } from './lora-math-helpers.ts';

const adapter = (modules: AdapterModule[]): CanonicalAdapter => ({
  source: 'scale.safetensors',
  modules,
  unmapped: [],
  metadata: {},
});

describe('alpha and rank to scale', () => {
  const next = rng(7);
  const lora = (rank: number, alpha: number) =>
    mod('lora', { down: rand([rank, 6], next), up: rand([5, rank], next) }, rank, alpha);

  it('effectiveAlpha: a stored 0 means alpha = rank; any other alpha is kept', () => {
    expect(effectiveAlpha(lora(8, 0))).toBe(8);
    expect(effectiveAlpha(lora(8, 4))).toBe(4);
    expect(effectiveAlpha(lora(3, 12))).toBe(12);
  });

  it('moduleScale is effectiveAlpha / rank for ranked kinds, 1 for full and norm', () => {
    for (const [rank, alpha, want] of [
      [8, 0, 1],
      [8, 4, 0.5],
      [4, 16, 4],
      [1, 1, 1],
    ] as const) {
      const m = lora(rank, alpha);
      expect(moduleScale(m)).toBe(want);
      expect(moduleScale(m)).toBe(effectiveAlpha(m) / m.rank);
    }
    const full = mod('full', { diff: rand([5, 6], next) }, 1, 1);
    expect(moduleScale(full)).toBe(1);
  });

  it('the writers store the same alpha the merge applies (kohya .alpha, PEFT lora_alpha)', () => {
    const m = lora(4, 0);
    const kohya = readSafetensors(writeKohya(adapter([m])), 'k');
    const alphaKey = kohya.names().find((n) => n.endsWith('.alpha'))!;
    expect(kohya.float32(alphaKey)[0]).toBe(effectiveAlpha(m));
    const peft = readSafetensors(writePeft(adapter([lora(4, 2)])), 'p');
    const config = JSON.parse(peft.header.metadata.lora_adapter_metadata!);
    expect(config['unet.lora_alpha']).toBe(2);
  });

  it('an alpha that is not finite is lora-nonfinite for the merge and the writers alike', () => {
    for (const alpha of [Number.NaN, Number.POSITIVE_INFINITY]) {
      const m = lora(4, alpha);
      for (const f of [
        () => effectiveAlpha(m),
        () => moduleScale(m),
        () => writeKohya(adapter([m])),
        () => writePeft(adapter([m])),
      ]) {
        const err = (() => {
          try {
            f();
          } catch (e) {
            return e;
          }
          return undefined;
        })();
        expect(isLorafuseError(err) && err.code).toBe('lora-nonfinite');
      }
    }
  });

  it('a rank that is not positive is lora-invalid', () => {
    expect(() => effectiveAlpha({ ...lora(4, 4), rank: 0 })).toThrow(/positive rank/);
  });
});
