/**
 * `combineAdapters` against PEFT 0.21's `add_weighted_adapter` on the fixture cases
 * tiny-sd15_peft_add_weighted_adapter_{same_rank,mixed_rank}: the inputs are the source factors
 * PEFT combined (stored in the case), the expected outputs PEFT's factors and delta.
 * Tolerances: linear/cat/ties compare the factors themselves, max abs error <= 1e-5 x max |ref|
 * (float64 arithmetic rounded once vs torch float32; observed ~1e-7). SVD factors are unique only
 * up to the sign of each singular pair, so the svd types compare the delta B·A·scaling, max abs
 * error <= 1e-4 x max |delta| (torch's float32 LAPACK SVD vs our float64 Jacobi).
 */
import { describe, expect, it } from 'vitest';
import { combineAdapters } from '../../src/core/lora/combine/index.ts';
import type { CombinationType } from '../../src/core/lora/combine/types.ts';
import { isLorafuseError } from '../../src/errors.ts';
import {
  get,
  loadWeightedCase,
  loraDeltaRef,
  maxAbs,
  maxAbsDiff,
  sourceAdapter,
} from './lora-combine-helpers.ts';

for (const name of [
  'tiny-sd15_peft_add_weighted_adapter_same_rank',
  'tiny-sd15_peft_add_weighted_adapter_mixed_rank',
]) {
  describe(name, () => {
    const c = loadWeightedCase(name);
    const adapters = c.sources.map((s) => sourceAdapter(c, s.adapter_name));
    for (const combo of c.combos) {
      const expected = c.peftResults[combo.name]!;
      const run = () =>
        combineAdapters(adapters, combo.weights, {
          combinationType: combo.combination_type as CombinationType,
          ...(combo.density === undefined ? {} : { density: combo.density }),
          ...(combo.majority_sign_method ? { majoritySignMethod: combo.majority_sign_method } : {}),
          ...(combo.svd_rank === undefined ? {} : { svdRank: combo.svd_rank }),
        });
      if (expected.error) {
        it(`${combo.name}: refused like PEFT (${expected.error.slice(0, 40)}...)`, () => {
          let err: unknown;
          try {
            run();
          } catch (e) {
            err = e;
          }
          expect(isLorafuseError(err) && err.code).toBe('invalid-argument');
          const msg = (err as Error).message;
          for (const s of c.sources) expect(msg).toContain(s.adapter_name);
          for (const a of adapters) expect(msg).toContain(`rank ${a.modules[0]!.rank}`);
        });
        continue;
      }
      it(`${combo.name} (${combo.combination_type})`, () => {
        const out = run();
        expect(out.modules).toHaveLength(1);
        const m = out.modules[0]!;
        expect(m.rank).toBe(expected.r);
        expect(m.alpha).toBe(expected.lora_alpha);
        const refA = get(c, `${combo.name}.lora_A`);
        const refB = get(c, `${combo.name}.lora_B`);
        const refDelta = get(c, `${combo.name}.delta_weight`);
        expect(get(c, `${combo.name}.scaling`).data[0]).toBe(1);
        expect(m.factors.down!.shape).toEqual(refA.shape);
        expect(m.factors.up!.shape).toEqual(refB.shape);
        const delta = loraDeltaRef(m.factors.up!, m.factors.down!, m.alpha / m.rank);
        if (combo.combination_type.endsWith('svd')) {
          expect(maxAbsDiff(delta, refDelta.data)).toBeLessThanOrEqual(1e-4 * maxAbs(refDelta.data));
        } else {
          expect(maxAbsDiff(m.factors.down!.data, refA.data)).toBeLessThanOrEqual(1e-5 * maxAbs(refA.data));
          expect(maxAbsDiff(m.factors.up!.data, refB.data)).toBeLessThanOrEqual(1e-5 * maxAbs(refB.data));
          expect(maxAbsDiff(delta, refDelta.data)).toBeLessThanOrEqual(1e-5 * maxAbs(refDelta.data));
        }
      });
    }
  });
}
