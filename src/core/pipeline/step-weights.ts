/**
 * Per-step adapter weights (loractl schedules on top of Diffusers' `set_adapters`): before step
 * `step` the UNet runs each adapter at `weight * scale(step) * schedule(step)`, the text encoders
 * (run once, before step 0) at the step-0 value. One implementation for the CLI and the engine.
 */
import type { AdapterWeightInput, UNetBlockWeightsInput } from './adapters.ts';
import { evaluateSchedule, type Schedule } from './schedule.ts';

/** One adapter's base weight: a number, or per component with an optional UNet block dict. */
export type StepAdapterWeight =
  | number
  | {
      unet: number | UNetBlockWeightsInput;
      text_encoder: number;
      text_encoder_2: number;
    };

export interface StepAdapter {
  name: string;
  weight: StepAdapterWeight;
  /** Multiplier per step; constant 1 when absent. */
  schedule?: Schedule | undefined;
}

function times(v: number | UNetBlockWeightsInput, m: number): number | UNetBlockWeightsInput {
  if (typeof v === 'number') return v * m;
  const scale = (x: number | readonly number[]) => (typeof x === 'number' ? x * m : x.map((y) => y * m));
  const dict = (d: NonNullable<UNetBlockWeightsInput['down']>) =>
    typeof d === 'number' ? d * m : Object.fromEntries(Object.entries(d).map(([k, x]) => [k, scale(x)]));
  return {
    ...(v.down !== undefined ? { down: dict(v.down) } : {}),
    ...(v.mid !== undefined ? { mid: scale(v.mid) } : {}),
    ...(v.up !== undefined ? { up: dict(v.up) } : {}),
  };
}

/** What `setAdapters(names, weights)` gets before step `step` of `steps`, in the order of `adapters`. */
export function stepAdapterWeights(
  adapters: readonly StepAdapter[],
  scale: Schedule,
  step: number,
  steps: number,
): AdapterWeightInput[] {
  const at = (a: StepAdapter, i: number) =>
    evaluateSchedule(scale, i, steps) * evaluateSchedule(a.schedule ?? 1, i, steps);
  return adapters.map((a) => {
    const now = at(a, step);
    const first = step === 0 ? now : at(a, 0);
    const w = typeof a.weight === 'number' ? { unet: a.weight, te: a.weight, te2: a.weight } : undefined;
    const unet = w ? w.unet : (a.weight as Exclude<StepAdapterWeight, number>).unet;
    const te = w ? w.te : (a.weight as Exclude<StepAdapterWeight, number>).text_encoder;
    const te2 = w ? w.te2 : (a.weight as Exclude<StepAdapterWeight, number>).text_encoder_2;
    return { unet: times(unet, now), text_encoder: te * first, text_encoder_2: te2 * first };
  });
}
