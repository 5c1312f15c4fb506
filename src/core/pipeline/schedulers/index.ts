/**
 * The scheduler factory: `scheduler_config.json` (any Diffusers scheduler class) in, one of our
 * samplers out. A class we do not implement (PNDM, LMS, UniPC, ...) or an option we do not
 * support falls back to Euler built from the same config, and says so in `fallbackFrom`, the way
 * Diffusers' `EulerDiscreteScheduler.from_config(other_config)` reads another class's config.
 */
import { isLorafuseError, LorafuseError } from '../../../errors.ts';
import type { ConfigSource, JsonObject } from '../../graph/config/json-fields.ts';
import { asConfigObject } from '../../graph/config/json-fields.ts';
import type { NoiseGenerator } from '../noise.ts';
import { createNoiseGenerator } from '../noise.ts';
import { effectiveConfig } from './config.ts';
import { createDdim, readDdimConfig } from './ddim.ts';
import { createDpmSolver, readDpmSolverConfig } from './dpmpp-2m.ts';
import { createEuler, readEulerConfig } from './euler.ts';
import { createEulerAncestral, readEulerAncestralConfig } from './euler-ancestral.ts';
import { createLcm, readLcmConfig } from './lcm.ts';
import type { Scheduler, SchedulerKind } from './types.ts';
import { SCHEDULER_KINDS } from './types.ts';

export type { Scheduler, SchedulerKind, StepOptions, StepResult } from './types.ts';
export { SCHEDULER_KINDS } from './types.ts';

export interface SchedulerOverride {
  /** Use this sampler instead of the config's class (the config's shared keys still apply). */
  kind?: SchedulerKind;
  /** Extra config keys, as in `Class.from_config(config, **overrides)`. */
  config?: JsonObject;
}

export interface CreateSchedulerOptions {
  /** Seed of the generator that stochastic schedulers draw from when a step gets no noise (default 0). */
  seed?: number;
  /** Or the generator itself. */
  generator?: NoiseGenerator;
  /** Name for error messages (default `scheduler_config.json`). */
  file?: string;
}

export interface CreatedScheduler {
  scheduler: Scheduler;
  kind: SchedulerKind;
  /** Set when the config asked for something we do not implement and we run Euler instead. */
  fallbackFrom?: string;
}

const CLASS_OF_KIND: Record<SchedulerKind, string> = {
  euler: 'EulerDiscreteScheduler',
  'euler-a': 'EulerAncestralDiscreteScheduler',
  ddim: 'DDIMScheduler',
  'dpmpp-2m': 'DPMSolverMultistepScheduler',
  'dpmpp-2m-karras': 'DPMSolverMultistepScheduler',
  lcm: 'LCMScheduler',
};

/** The kind a config's own class maps to, or null for classes we do not implement. */
export function kindOfConfig(json: JsonObject): SchedulerKind | null {
  switch (json._class_name) {
    case 'EulerDiscreteScheduler':
      return 'euler';
    case 'EulerAncestralDiscreteScheduler':
      return 'euler-a';
    case 'DDIMScheduler':
      return 'ddim';
    case 'DPMSolverMultistepScheduler':
      return json.use_karras_sigmas === true ? 'dpmpp-2m-karras' : 'dpmpp-2m';
    case 'LCMScheduler':
      return 'lcm';
    default:
      return null;
  }
}

function build(kind: SchedulerKind, src: ConfigSource, generator: NoiseGenerator): Scheduler {
  switch (kind) {
    case 'euler':
      return createEuler(readEulerConfig(src), generator);
    case 'euler-a':
      return createEulerAncestral(readEulerAncestralConfig(src), generator);
    case 'ddim':
      return createDdim(readDdimConfig(src), generator);
    case 'dpmpp-2m':
    case 'dpmpp-2m-karras':
      return createDpmSolver(readDpmSolverConfig(src), generator, kind === 'dpmpp-2m-karras');
    case 'lcm':
      return createLcm(readLcmConfig(src), generator);
  }
}

/** The keys that make a chosen DPM++ kind what its name says. */
function kindKeys(kind: SchedulerKind): JsonObject {
  if (kind === 'dpmpp-2m' || kind === 'dpmpp-2m-karras') {
    return { algorithm_type: 'dpmsolver++', solver_order: 2, use_karras_sigmas: kind === 'dpmpp-2m-karras' };
  }
  return {};
}

export function createScheduler(
  config: object,
  override: SchedulerOverride = {},
  options: CreateSchedulerOptions = {},
): CreatedScheduler {
  const file = options.file ?? 'scheduler_config.json';
  const json = asConfigObject(config, file);
  if (override.kind !== undefined && !SCHEDULER_KINDS.includes(override.kind)) {
    throw new LorafuseError(
      'invalid-argument',
      `Unknown scheduler kind '${String(override.kind)}'; use one of ${SCHEDULER_KINDS.join(', ')}.`,
      { kind: override.kind },
    );
  }
  const generator = options.generator ?? createNoiseGenerator(options.seed ?? 0);
  const base = effectiveConfig(json, file);
  const source = (kind: SchedulerKind): ConfigSource => ({
    file,
    json: { ...base.json, ...override.config, ...(override.kind ? kindKeys(kind) : {}) },
  });

  if (override.kind)
    return { scheduler: build(override.kind, source(override.kind), generator), kind: override.kind };

  const className = typeof json._class_name === 'string' ? json._class_name : '(no _class_name)';
  const kind = kindOfConfig(json);
  if (kind) {
    try {
      return { scheduler: build(kind, source(kind), generator), kind };
    } catch (e) {
      if (!isLorafuseError(e) || e.code !== 'not-implemented') throw e;
      return {
        scheduler: build('euler', source('euler'), generator),
        kind: 'euler',
        fallbackFrom: `${className}: ${e.message}`,
      };
    }
  }
  return { scheduler: build('euler', source('euler'), generator), kind: 'euler', fallbackFrom: className };
}

/** The Diffusers class that a kind reproduces. */
export function schedulerClassName(kind: SchedulerKind): string {
  return CLASS_OF_KIND[kind];
}

/**
 * Parses a `scheduler_config.json` text. Python's json writer emits bare `Infinity`, `-Infinity`
 * and `NaN` (e.g. DPMSolver's `lambda_min_clipped`), which JSON.parse rejects; they are read here
 * as numbers.
 */
export function parseSchedulerConfigJson(text: string, file = 'scheduler_config.json'): JsonObject {
  const marker = '\u0000py:';
  const quoted = text.replace(/"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g, (m) =>
    m.startsWith('"') ? m : `"\\u0000py:${m}"`,
  );
  try {
    return asConfigObject(
      JSON.parse(quoted, (_k, v) =>
        typeof v === 'string' && v.startsWith(marker) ? Number(v.slice(marker.length)) : v,
      ),
      file,
    );
  } catch (e) {
    if (isLorafuseError(e)) throw e;
    throw new LorafuseError(
      'config-invalid',
      `${file}: not valid JSON (${(e as Error).message}).`,
      { file },
      { cause: e },
    );
  }
}
