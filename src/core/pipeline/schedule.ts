/**
 * Strength schedules (DESIGN.md decision 7): how an adapter weight, or the global LoRA scale,
 * changes across the denoising steps. A schedule is
 * - a number: constant;
 * - a per-step array: step i uses entry i (a shorter array holds its last entry);
 * - keyframes `[[position, weight], ...]`, linear in between and held before the first and after
 *   the last. A position <= 1 is a fraction of the run (step i of N sits at i / (N - 1); with
 *   N = 1, step 0 sits at 0); a position > 1 is a 1-based step number (so 20 is the 20th step,
 *   index 19). This is the meaning of A1111 loractl's `weight@position` syntax, e.g. `0@0,1@0.5`.
 *
 * Step i of the schedule is the weight the UNet runs with at step i, as in Diffusers'
 * step-callback pattern: `weights[0]` is set before the call and `weights[i + 1]` after step i.
 */
import { LorafuseError } from '../../errors.ts';

export type Keyframe = readonly [position: number, weight: number];
export type Schedule = number | readonly number[] | readonly Keyframe[];

function invalid(message: string, details: Record<string, unknown> = {}): LorafuseError {
  return new LorafuseError('invalid-argument', message, details);
}

export function isKeyframes(s: Schedule): s is readonly Keyframe[] {
  return Array.isArray(s) && s.length > 0 && Array.isArray(s[0]);
}

/** Throws `invalid-argument` naming what is wrong with a schedule. */
export function validateSchedule(s: Schedule): void {
  if (typeof s === 'number') {
    if (!Number.isFinite(s))
      throw invalid(`A schedule weight must be a finite number, got ${s}.`, { schedule: s });
    return;
  }
  if (!Array.isArray(s) || s.length === 0) {
    throw invalid(
      'A schedule must be a number, a non-empty list of per-step weights, or [[position, weight], ...] keyframes.',
      {
        schedule: s,
      },
    );
  }
  if (isKeyframes(s)) {
    s.forEach((k, i) => {
      if (!Array.isArray(k) || k.length !== 2 || !k.every(Number.isFinite) || k[0] < 0) {
        throw invalid(
          `Keyframe ${i} must be [position >= 0, weight] with finite numbers, got ${JSON.stringify(k)}.`,
          {
            index: i,
            keyframe: k,
          },
        );
      }
    });
    return;
  }
  (s as readonly unknown[]).forEach((w, i) => {
    if (typeof w !== 'number' || !Number.isFinite(w)) {
      throw invalid(`Per-step weight ${i} must be a finite number, got ${JSON.stringify(w)}.`, {
        index: i,
        weight: w,
      });
    }
  });
}

function checkStep(step: number, steps: number): void {
  if (!Number.isInteger(steps) || steps < 1)
    throw invalid(`The number of steps must be a positive integer, got ${steps}.`, { steps });
  if (!Number.isInteger(step) || step < 0 || step >= steps) {
    throw invalid(`Step ${step} is outside 0..${steps - 1}.`, { step, steps });
  }
}

/**
 * Where a keyframe sits on the step-index axis: a fraction f at f * (N - 1), a step number s at
 * s - 1. With one step, fractions keep their value, so step 0 sits at fraction 0.
 */
function keyframeStep(position: number, steps: number): number {
  return position <= 1 ? position * Math.max(steps - 1, 1) : position - 1;
}

function evaluateKeyframes(keys: readonly Keyframe[], step: number, steps: number): number {
  const points = keys
    .map(([p, w], i) => ({ at: keyframeStep(p, steps), w, i }))
    .sort((a, b) => a.at - b.at || a.i - b.i);
  let k = -1;
  for (let j = 0; j < points.length && points[j]!.at <= step; j++) k = j;
  if (k === -1) return points[0]!.w;
  const a = points[k]!;
  const b = points[k + 1];
  if (!b || a.at === step) return a.w;
  const t = (step - a.at) / (b.at - a.at);
  const v = a.w + (b.w - a.w) * t;
  return Math.min(Math.max(v, Math.min(a.w, b.w)), Math.max(a.w, b.w));
}

/** The weight at `step` (0-based) of a run of `steps` steps. */
export function evaluateSchedule(s: Schedule, step: number, steps: number): number {
  validateSchedule(s);
  checkStep(step, steps);
  if (typeof s === 'number') return s;
  if (isKeyframes(s)) return evaluateKeyframes(s, step, steps);
  const perStep = s as readonly number[];
  return perStep[Math.min(step, perStep.length - 1)]!;
}

/** The weight of every step of a run. */
export function scheduleValues(s: Schedule, steps: number): number[] {
  return Array.from({ length: steps }, (_, i) => evaluateSchedule(s, i, steps));
}

/** True when every step gets the same weight (no per-step merge work needed). */
export function isConstantSchedule(s: Schedule, steps: number): boolean {
  const v = scheduleValues(s, steps);
  return v.every((w) => w === v[0]);
}

/** Per-adapter weights at a step: the global scale schedule times each adapter's own schedule. */
export function effectiveWeights(
  globalSchedule: Schedule,
  adapters: Readonly<Record<string, Schedule>>,
  step: number,
  steps: number,
): Record<string, number> {
  const scale = evaluateSchedule(globalSchedule, step, steps);
  const out: Record<string, number> = {};
  for (const [name, s] of Object.entries(adapters)) out[name] = scale * evaluateSchedule(s, step, steps);
  return out;
}

const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Parses loractl syntax: a bare number, or comma-separated `weight@position` pairs
 * (`1@0,0.2@0.6`), into a number or keyframes.
 */
export function parseSchedule(text: string): number | Keyframe[] {
  const src = text.trim();
  if (NUMBER.test(src)) return Number(src);
  if (src === '')
    throw invalid('Empty schedule: write a weight (0.8) or weight@position pairs (1@0,0.2@0.6).', { text });
  return src.split(',').map((raw, index) => {
    const token = raw.trim();
    const parts = token.split('@');
    if (parts.length !== 2 || !NUMBER.test(parts[0]!.trim()) || !NUMBER.test(parts[1]!.trim())) {
      throw invalid(
        `Schedule "${text}": token ${index + 1} '${token}' is not weight@position (e.g. 0.5@0.25 or 1@10).`,
        { text, token, index },
      );
    }
    const weight = Number(parts[0]!.trim());
    const position = Number(parts[1]!.trim());
    if (position < 0) {
      throw invalid(`Schedule "${text}": token ${index + 1} '${token}' has a negative position.`, {
        text,
        token,
        index,
      });
    }
    return [position, weight] as const;
  });
}

/**
 * Writes a schedule in loractl syntax. A per-step array becomes one keyframe per step (step 0 at
 * position 0, step i at step number i + 1), which parses back to the same per-step values.
 */
export function formatSchedule(s: Schedule): string {
  validateSchedule(s);
  if (typeof s === 'number') return String(s);
  const keys: readonly Keyframe[] = isKeyframes(s)
    ? s
    : (s as readonly number[]).map((w, i) => [i === 0 ? 0 : i + 1, w] as const);
  return keys.map(([p, w]) => `${w}@${p}`).join(',');
}

export type SchedulePresetName = 'constant' | 'ramp-down' | 'ramp-up' | 'character-first';

/** The same weight at every step. */
export function constantSchedule(weight = 1): Schedule {
  return weight;
}

/** Linear from `from` at the first step to `to` at the last. */
export function rampSchedule(from: number, to: number): Keyframe[] {
  return [
    [0, from],
    [1, to],
  ];
}

export interface CharacterFirstOptions {
  /** Weight at the first step (1.5 in the Diffusers guide). */
  start?: number;
  /** Weight at the last step of the ramp (0.7). */
  end?: number;
  /** How many steps the ramp lasts (20); from the next step on, `tail` applies. */
  rampSteps?: number;
  /** Weight after the ramp (0.2). */
  tail?: number;
}

/**
 * The Diffusers LoRA guide's "scale scheduling" example for a character LoRA: strong early to
 * set up the character, decaying linearly over the first `rampSteps` steps
 * (`torch.linspace(1.5, 0.7, 20)`), then a light 0.2 for the rest of the run.
 */
export function characterFirstSchedule(options: CharacterFirstOptions = {}): Keyframe[] {
  const { start = 1.5, end = 0.7, rampSteps = 20, tail = 0.2 } = options;
  if (!Number.isInteger(rampSteps) || rampSteps < 2) {
    throw invalid(`character-first: rampSteps must be an integer >= 2, got ${rampSteps}.`, { rampSteps });
  }
  return [
    [0, start],
    [rampSteps, end],
    [rampSteps + 1, tail],
  ];
}

export function schedulePreset(name: SchedulePresetName): Schedule {
  switch (name) {
    case 'constant':
      return constantSchedule();
    case 'ramp-down':
      return rampSchedule(1, 0);
    case 'ramp-up':
      return rampSchedule(0, 1);
    case 'character-first':
      return characterFirstSchedule();
  }
}
