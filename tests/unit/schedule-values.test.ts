/**
 * Strength schedules against the Diffusers per-step callback fixture and the Diffusers guide's
 * scale-scheduling example; loractl parsing/formatting and errors.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Schedule } from '../../src/core/pipeline/schedule.ts';
import {
  characterFirstSchedule,
  effectiveWeights,
  evaluateSchedule,
  formatSchedule,
  isConstantSchedule,
  parseSchedule,
  schedulePreset,
  scheduleValues,
} from '../../src/core/pipeline/schedule.ts';
import { LorafuseError } from '../../src/errors.ts';

const FIX = join(import.meta.dirname, '../fixtures/cases');

function caught(fn: () => unknown): LorafuseError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(LorafuseError);
    return e as LorafuseError;
  }
  throw new Error('expected a LorafuseError');
}

describe('the Diffusers step-callback fixture (tiny-sd15_pipe_callback_adapter_schedule)', () => {
  const meta = JSON.parse(readFileSync(join(FIX, 'tiny-sd15_pipe_callback_adapter_schedule.json'), 'utf8'));
  const call = meta.ops.find((o: { op: string }) => o.op === 'pipeline_call');
  const steps: number = call.num_inference_steps;
  // weights_per_step[0] is set before the call, [i + 1] after step i: step i runs with entry i.
  const perStep: number[] = call.callback_set_adapters.weights_per_step.map((w: number[]) => w[0]);

  it('is a 4-step run with one weight per step', () => {
    expect(steps).toBe(4);
    expect(perStep).toHaveLength(steps);
  });

  it.each<[string, Schedule]>([
    ['a per-step array', perStep],
    [
      'keyframes at step numbers',
      [
        [0, perStep[0]!],
        [2, perStep[1]!],
        [3, perStep[2]!],
        [4, perStep[3]!],
      ],
    ],
    [
      'keyframes at fractions',
      [
        [0, perStep[0]!],
        [1 / 3, perStep[1]!],
        [2 / 3, perStep[2]!],
        [1, perStep[3]!],
      ],
    ],
    ['loractl text', parseSchedule(perStep.map((w, i) => `${w}@${i === 0 ? 0 : i + 1}`).join(','))],
    ['its own formatted text', parseSchedule(formatSchedule(perStep))],
  ])('%s gives exactly the fixture weights', (_name, schedule) => {
    expect(scheduleValues(schedule, steps)).toEqual(perStep);
  });
});

describe("the Diffusers guide's character LoRA schedule (30 steps)", () => {
  // lora_scales = torch.linspace(1.5, 0.7, 20).tolist() + [0.2] * 11; step i uses lora_scales[i].
  const guide = [
    ...Array.from({ length: 20 }, (_, i) => 1.5 + ((0.7 - 1.5) * i) / 19),
    ...Array(10).fill(0.2),
  ];
  it('character-first reproduces it (float32 linspace: within 1e-6)', () => {
    const values = scheduleValues(schedulePreset('character-first'), 30);
    values.forEach((v, i) => {
      expect(Math.abs(v - guide[i]!)).toBeLessThan(1e-6);
    });
    expect(values[0]).toBe(1.5);
    expect(values[19]).toBe(0.7);
    expect(values[20]).toBe(0.2);
  });
  it('keeps its shape for other step counts (ramp over the first rampSteps steps)', () => {
    const v = scheduleValues(characterFirstSchedule({ rampSteps: 4, start: 1, end: 0.4, tail: 0 }), 6);
    expect(v.map((x) => Number(x.toFixed(12)))).toEqual([1, 0.8, 0.6, 0.4, 0, 0]);
  });
});

describe('evaluation', () => {
  it('numbers are constant; short per-step arrays hold their last entry', () => {
    expect(scheduleValues(0.8, 3)).toEqual([0.8, 0.8, 0.8]);
    expect(scheduleValues([1, 0.5], 4)).toEqual([1, 0.5, 0.5, 0.5]);
    expect(isConstantSchedule(0.3, 5)).toBe(true);
    expect(isConstantSchedule([1, 0.5], 2)).toBe(false);
  });

  it('keyframes interpolate linearly and hold before the first and after the last', () => {
    // 0@0.25, 1@0.75 over 5 steps: steps sit at 0, .25, .5, .75, 1
    expect(scheduleValues(parseSchedule('0@0.25,1@0.75'), 5)).toEqual([0, 0, 0.5, 1, 1]);
    // positions > 1 are 1-based step numbers: 2@3 is the third step (index 2)
    expect(
      scheduleValues(
        [
          [3, 2],
          [5, 0],
        ],
        6,
      ),
    ).toEqual([2, 2, 2, 1, 0, 0]);
    // a single step sits at 0
    expect(scheduleValues(schedulePreset('ramp-down'), 1)).toEqual([1]);
    expect(scheduleValues(schedulePreset('ramp-up'), 3)).toEqual([0, 0.5, 1]);
    // unsorted keyframes are read in position order
    expect(
      scheduleValues(
        [
          [1, 1],
          [0, 0],
        ],
        3,
      ),
    ).toEqual([0, 0.5, 1]);
  });

  it('a global scale schedule multiplies each adapter schedule', () => {
    const w = effectiveWeights(
      [
        [0, 1],
        [1, 0.5],
      ],
      {
        style: 0.8,
        character: [
          [0, 1],
          [1, 0],
        ],
      },
      1,
      3,
    );
    expect(w.style).toBeCloseTo(0.75 * 0.8, 15);
    expect(w.character).toBeCloseTo(0.75 * 0.5, 15);
    expect(effectiveWeights(1, {}, 0, 1)).toEqual({});
  });

  it('rejects bad schedules and steps with a reason', () => {
    expect(caught(() => evaluateSchedule([], 0, 1)).code).toBe('invalid-argument');
    expect(caught(() => evaluateSchedule(Number.NaN, 0, 1)).message).toMatch(/finite/);
    expect(
      caught(() =>
        evaluateSchedule(
          [
            [0, 1],
            [-1, 2],
          ],
          0,
          2,
        ),
      ).message,
    ).toMatch(/Keyframe 1/);
    expect(caught(() => evaluateSchedule([1, Number.POSITIVE_INFINITY], 0, 2)).message).toMatch(/weight 1/);
    expect(caught(() => evaluateSchedule(1, 3, 3)).message).toMatch(/0\.\.2/);
    expect(caught(() => evaluateSchedule(1, 0, 0)).code).toBe('invalid-argument');
  });
});

describe('loractl syntax', () => {
  it('parses numbers and weight@position pairs', () => {
    expect(parseSchedule(' 0.75 ')).toBe(0.75);
    expect(parseSchedule('0@0,1@0.5')).toEqual([
      [0, 0],
      [0.5, 1],
    ]);
    expect(parseSchedule('1.5@0, .7@20 , 2e-1@21')).toEqual([
      [0, 1.5],
      [20, 0.7],
      [21, 0.2],
    ]);
  });

  it.each([
    ['', /Empty/],
    ['1@', /token 1 '1@'/],
    ['1@0,,0@1', /token 2 ''/],
    ['1@0,x@1', /token 2 'x@1'/],
    ['1@0@2', /token 1 '1@0@2'/],
    ['1@-2', /negative position/],
  ])('rejects %j naming the bad token', (text, why) => {
    const e = caught(() => parseSchedule(text));
    expect(e.code).toBe('invalid-argument');
    expect(e.message).toMatch(why);
  });

  it('formats back to the same schedule', () => {
    expect(formatSchedule(0.5)).toBe('0.5');
    expect(
      formatSchedule([
        [0, 1.5],
        [20, 0.7],
        [21, 0.2],
      ]),
    ).toBe('1.5@0,0.7@20,0.2@21');
    expect(formatSchedule([1, 0.1, 0.3])).toBe('1@0,0.1@2,0.3@3');
  });
});
