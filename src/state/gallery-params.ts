/**
 * The A1111 infotext of a finished image (what its PNG's `parameters` chunk holds), and the way
 * back: the panel changes that restore an infotext's settings.
 *
 * Adapter weights: tagged adapters carry theirs in the prompt (written as typed). An untagged
 * enabled adapter is written in `Lorafuse schedules` as its panel weight times its schedule (a
 * constant weight is a plain number), and a tagged one only when the panel adds a schedule. The
 * global LoRA scale times its schedule goes to `Lorafuse scale` when it is not 1.
 */

import type { GenerationParams as Infotext } from '../core/pipeline/generation-params.ts';
import { formatGenerationParams } from '../core/pipeline/generation-params.ts';
import type { PromptLora } from '../core/pipeline/prompt-loras.ts';
import { extractPromptLoras } from '../core/pipeline/prompt-loras.ts';
import { isKeyframes, type Schedule } from '../core/pipeline/schedule.ts';
import type { SchedulerKind } from '../core/pipeline/schedulers/index.ts';
import type { GenerationParams } from './slices/generation.ts';
import type { FusedLora, LoraEntry } from './slices/loras.ts';

/** A schedule multiplied by `k` (keyframe positions kept). */
export function timesSchedule(s: Schedule, k: number): Schedule {
  if (k === 1) return s;
  if (typeof s === 'number') return s * k;
  if (isKeyframes(s)) return s.map(([p, w]) => [p, w * k] as const);
  return (s as readonly number[]).map((v) => v * k);
}

export interface InfotextInput {
  /** The prompt as typed, tags included. */
  prompt: string;
  negativePrompt: string;
  steps: number;
  guidanceScale: number;
  seed: number;
  width: number;
  height: number;
  /** The scheduler that ran. */
  scheduler: SchedulerKind;
  /** The model repo. */
  model: string;
  /** The adapters as run (tags applied). */
  loras: readonly LoraEntry[];
  tags: readonly PromptLora[];
  loraScale: number;
  loraScaleSchedule: Schedule;
  /** What was fused into the model (not in the request's adapters). */
  fused?: readonly FusedLora[];
}

/** The infotext of one run; throws `invalid-argument` as `formatGenerationParams` does. */
export function runInfotext(r: InfotextInput): string {
  const tagged = new Set(r.tags.map((t) => t.name));
  const schedules: Record<string, Schedule> = {};
  for (const l of r.loras) {
    if (!l.enabled) continue;
    if (!tagged.has(l.adapterName)) schedules[l.adapterName] = timesSchedule(l.schedule ?? 1, l.weight);
    else if (
      l.schedule !== undefined &&
      typeof r.tags.find((t) => t.name === l.adapterName)?.weight === 'number'
    )
      schedules[l.adapterName] = l.schedule;
  }
  const scale = timesSchedule(r.loraScaleSchedule, r.loraScale);
  const p: Infotext = {
    prompt: r.prompt,
    negativePrompt: r.negativePrompt,
    steps: r.steps,
    scheduler: r.scheduler,
    cfgScale: r.guidanceScale,
    seed: r.seed,
    width: r.width,
    height: r.height,
    model: r.model,
    ...(Object.keys(schedules).length > 0 ? { adapterSchedules: schedules } : {}),
    ...(scale !== 1 ? { scaleSchedule: scale } : {}),
    ...(r.fused && r.fused.length > 0
      ? { fusedAdapters: Object.fromEntries(r.fused.map((f) => [f.adapterName, f.weight * f.loraScale])) }
      : {}),
  };
  return formatGenerationParams(p);
}

export interface LoraRestore {
  adapterName: string;
  enabled: boolean;
  weight?: number;
  /** null clears the schedule. */
  schedule?: Schedule | null;
}

export interface RestorePlan {
  generation: Partial<GenerationParams>;
  loras: LoraRestore[];
  /** Global scale and its schedule, when the infotext has `Lorafuse scale`. */
  scale?: { scale: number; schedule: Schedule };
  /** What could not be restored, in words (unknown sampler, adapters not loaded). */
  notes: string[];
}

/**
 * The panel changes for an infotext. Adapters named in `Lorafuse schedules` that are loaded get
 * weight and schedule back (enabled); tagged ones get enabled (the tag sets the weight at run time).
 */
export function restorePlan(p: Infotext, loaded: readonly LoraEntry[]): RestorePlan {
  const notes: string[] = [];
  const generation: Partial<GenerationParams> = { prompt: p.prompt, negativePrompt: p.negativePrompt };
  if (p.steps !== undefined) generation.numInferenceSteps = p.steps;
  if (p.cfgScale !== undefined) generation.guidanceScale = p.cfgScale;
  if (p.seed !== undefined) generation.seed = p.seed;
  if (p.width !== undefined && p.height !== undefined) {
    generation.width = p.width;
    generation.height = p.height;
  }
  if (p.scheduler !== undefined) generation.scheduler = p.scheduler;
  else if (p.sampler !== undefined)
    notes.push(
      `sampler '${p.sampler}${p.scheduleType ? ` ${p.scheduleType}` : ''}' has no lorafuse scheduler`,
    );
  const has = (name: string) => loaded.some((l) => l.adapterName === name);
  const loras: LoraRestore[] = [];
  const missing: string[] = [];
  let tags: PromptLora[] = [];
  try {
    tags = extractPromptLoras(p.prompt).loras;
  } catch {
    // A malformed tag is restored as text; generating will name it.
  }
  const tagged = new Set(tags.map((t) => t.name));
  for (const [name, s] of Object.entries(p.adapterSchedules ?? {})) {
    if (!has(name)) {
      missing.push(name);
      continue;
    }
    if (tagged.has(name)) loras.push({ adapterName: name, enabled: true, schedule: s });
    else if (typeof s === 'number')
      loras.push({ adapterName: name, enabled: true, weight: s, schedule: null });
    else loras.push({ adapterName: name, enabled: true, weight: 1, schedule: s });
  }
  for (const t of tags) {
    if (!has(t.name)) missing.push(t.name);
    else if (!loras.some((l) => l.adapterName === t.name)) loras.push({ adapterName: t.name, enabled: true });
  }
  if (missing.length > 0) notes.push(`LoRA(s) not loaded: ${missing.map((n) => `"${n}"`).join(', ')}`);
  const fused = Object.entries(p.fusedAdapters ?? {});
  if (fused.length > 0) {
    // Fusing changes the model, so a restore does not do it by itself.
    notes.push(
      `fused into the model for this image: ${fused.map(([n, w]) => `"${n}" at ${w}`).join(', ')}; fuse them again to reproduce it`,
    );
  }
  const plan: RestorePlan = { generation, loras, notes };
  if (p.scaleSchedule !== undefined) {
    plan.scale =
      typeof p.scaleSchedule === 'number'
        ? { scale: p.scaleSchedule, schedule: 1 }
        : { scale: 1, schedule: p.scaleSchedule };
  }
  return plan;
}
