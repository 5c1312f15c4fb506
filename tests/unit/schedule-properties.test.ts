/** Properties of keyframe schedules, checked with fast-check on random keyframes and run lengths. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Keyframe } from '../../src/core/pipeline/schedule.ts';
import {
  effectiveWeights,
  evaluateSchedule,
  formatSchedule,
  parseSchedule,
  scheduleValues,
} from '../../src/core/pipeline/schedule.ts';

// `+ 0` turns -0 into 0: text has one zero.
const weight = fc.double({ min: -10, max: 10, noNaN: true, noDefaultInfinity: true }).map((x) => x + 0);
const position = fc.oneof(
  fc.double({ min: 0, max: 1, noNaN: true }).map((x) => x + 0),
  fc.integer({ min: 2, max: 60 }),
);
const keyframes = fc.array(fc.tuple(position, weight), { minLength: 1, maxLength: 6 }) as fc.Arbitrary<
  Keyframe[]
>;
const steps = fc.integer({ min: 1, max: 60 });

/** Independent statement of where a keyframe sits (fraction of the run, or 1-based step number). */
const stepOf = (p: number, n: number) => (p <= 1 ? p * Math.max(n - 1, 1) : p - 1);

describe('keyframe schedules', () => {
  it('stay within the keyframe weights', () => {
    fc.assert(
      fc.property(keyframes, steps, (keys, n) => {
        const lo = Math.min(...keys.map((k) => k[1]));
        const hi = Math.max(...keys.map((k) => k[1]));
        for (const v of scheduleValues(keys, n)) {
          expect(v).toBeGreaterThanOrEqual(lo);
          expect(v).toBeLessThanOrEqual(hi);
        }
      }),
    );
  });

  it('hold the first weight before the first keyframe and the last after the last', () => {
    fc.assert(
      fc.property(keyframes, steps, (keys, n) => {
        const order = keys
          .map((k, i) => ({ at: stepOf(k[0], n), w: k[1], i }))
          .sort((a, b) => a.at - b.at || a.i - b.i);
        const first = order[0]!;
        const last = order[order.length - 1]!;
        scheduleValues(keys, n).forEach((v, i) => {
          if (i < first.at) expect(v).toBe(first.w);
          if (i >= last.at) expect(v).toBe(last.w);
        });
      }),
    );
  });

  it('are exact at keyframes that fall on a step', () => {
    const onSteps = fc
      .integer({ min: 2, max: 40 })
      .chain((n) =>
        fc.tuple(
          fc.constant(n),
          fc.uniqueArray(fc.integer({ min: 0, max: n - 1 }), { minLength: 1, maxLength: 6 }),
          fc.array(weight, { minLength: 6, maxLength: 6 }),
        ),
      );
    fc.assert(
      fc.property(onSteps, ([n, at, ws]) => {
        // step 0 as fraction 0, the last step as fraction 1, others by 1-based step number
        const keys: Keyframe[] = at.map((i, j) => [
          i === 0 ? 0 : i === n - 1 && j % 2 === 0 ? 1 : i + 1,
          ws[j]!,
        ]);
        at.forEach((i, j) => {
          expect(evaluateSchedule(keys, i, n)).toBe(ws[j]);
        });
      }),
    );
  });

  it('round-trip through loractl text', () => {
    fc.assert(
      fc.property(keyframes, steps, (keys, n) => {
        const back = parseSchedule(formatSchedule(keys));
        expect(back).toEqual(keys);
        expect(scheduleValues(back, n)).toEqual(scheduleValues(keys, n));
      }),
    );
    fc.assert(
      fc.property(fc.array(weight, { minLength: 1, maxLength: 30 }), (perStep) => {
        expect(scheduleValues(parseSchedule(formatSchedule(perStep)), perStep.length)).toEqual(perStep);
      }),
    );
  });

  it('compose by multiplication with a global scale', () => {
    fc.assert(
      fc.property(keyframes, keyframes, steps, (g, a, n) => {
        for (let i = 0; i < n; i++) {
          expect(effectiveWeights(g, { a }, i, n).a).toBe(
            evaluateSchedule(g, i, n) * evaluateSchedule(a, i, n),
          );
        }
      }),
    );
  });
});
