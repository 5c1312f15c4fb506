import { describe, expect, it } from 'vitest';
import { stepAdapterWeights } from '../../src/core/pipeline/step-weights.ts';

describe('stepAdapterWeights', () => {
  it('multiplies the UNet weight by scale(step) * schedule(step) and the text encoders by the step-0 value', () => {
    // Keyframes 0@0 -> 1@1 over 5 steps: step i sits at i/4, so the schedule is i/4; the scale
    // schedule is a constant 0.5. Expected values computed by hand from those definitions.
    const adapters = [
      {
        name: 'a',
        weight: 2,
        schedule: [
          [0, 0],
          [1, 1],
        ] as const,
      },
    ];
    expect(stepAdapterWeights(adapters, 0.5, 2, 5)).toEqual([
      { unet: 2 * 0.5 * 0.5, text_encoder: 0, text_encoder_2: 0 },
    ]);
    const noSchedule = [{ name: 'b', weight: 1.5 }];
    expect(stepAdapterWeights(noSchedule, 1, 3, 5)).toEqual([
      { unet: 1.5, text_encoder: 1.5, text_encoder_2: 1.5 },
    ]);
  });

  it('scales every entry of a UNet block dict and keeps per-component text encoder weights', () => {
    const weight = {
      unet: { down: { block_1: 0.5 }, mid: 1, up: { block_0: [1, 0.25] } },
      text_encoder: 0.8,
      text_encoder_2: 0.4,
    };
    const out = stepAdapterWeights([{ name: 'a', weight, schedule: [1, 0.5] }], 2, 1, 2);
    expect(out).toEqual([
      {
        unet: { down: { block_1: 0.5 }, mid: 1, up: { block_0: [1, 0.25] } },
        text_encoder: 0.8 * 2,
        text_encoder_2: 0.4 * 2,
      },
    ]);
  });

  it('a schedule that is 0 everywhere gives 0 for every component at every step', () => {
    const s = [
      [0, 0],
      [1, 0],
    ] as const;
    for (let i = 0; i < 4; i++) {
      expect(stepAdapterWeights([{ name: 'a', weight: 1, schedule: s }], 1, i, 4)).toEqual([
        { unet: 0, text_encoder: 0, text_encoder_2: 0 },
      ]);
    }
  });
});
