/**
 * Reading `scheduler_config.json` the way Diffusers' `from_config` does: a key the config lists in
 * `_use_default_values` was never set by anyone, so the target class's own default applies; other
 * keys the class knows are taken as written; keys it does not know are ignored.
 */
import { LorafuseError } from '../../../errors.ts';
import type { ConfigSource, JsonObject } from '../../graph/config/json-fields.ts';
import { bool, int, invalidField, num, str, unsupported } from '../../graph/config/json-fields.ts';
import type { BetaSchedule, NoiseScheduleConfig } from './betas.ts';
import type { PredictionType } from './types.ts';

export type { ConfigSource };

export type TimestepSpacing = 'linspace' | 'leading' | 'trailing';

export interface CommonConfig extends NoiseScheduleConfig {
  predictionType: PredictionType;
  timestepSpacing: TimestepSpacing;
  stepsOffset: number;
}

/** The class defaults that differ between schedulers. */
export interface CommonDefaults {
  betaStart: number;
  betaEnd: number;
  betaSchedule: BetaSchedule;
  timestepSpacing: TimestepSpacing;
}

export const DIFFUSERS_DEFAULTS: CommonDefaults = {
  betaStart: 0.0001,
  betaEnd: 0.02,
  betaSchedule: 'linear',
  timestepSpacing: 'linspace',
};

/** The config without private keys and without the keys that only held defaults. */
export function effectiveConfig(json: JsonObject, file: string): ConfigSource {
  const defaulted = Array.isArray(json._use_default_values) ? new Set(json._use_default_values) : new Set();
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(json)) {
    if (!k.startsWith('_') && !defaulted.has(k)) out[k] = v;
  }
  return { json: out, file };
}

export function oneOf<T extends string>(src: ConfigSource, key: string, allowed: readonly T[], dflt: T): T {
  const v = str(src, key, dflt);
  if (!(allowed as readonly string[]).includes(v))
    throw invalidField(src, key, `one of ${allowed.join(', ')}`);
  return v as T;
}

/** A number that may be absent/null; Python writes infinities, which we accept as numbers or strings. */
export function optNum(src: ConfigSource, key: string): number | null {
  const v = src.json[key];
  if (v === undefined || v === null) return null;
  if (v === '-Infinity') return Number.NEGATIVE_INFINITY;
  if (v === 'Infinity') return Number.POSITIVE_INFINITY;
  if (typeof v !== 'number' || Number.isNaN(v)) throw invalidField(src, key, 'a number or null');
  return v;
}

/** Throws `not-implemented` when a boolean option we do not support is switched on. */
export function requireOff(src: ConfigSource, key: string, why: string): void {
  if (bool(src, key, false)) throw unsupported(src, key, why);
}

function trainedBetas(src: ConfigSource): number[] | null {
  const v = src.json.trained_betas;
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && x >= 0 && x < 1)) {
    throw invalidField(src, 'trained_betas', 'null or a list of numbers in [0, 1)');
  }
  return v as number[];
}

export function readCommon(src: ConfigSource, defaults: CommonDefaults): CommonConfig {
  const numTrainTimesteps = int(src, 'num_train_timesteps', 1000);
  if (numTrainTimesteps < 2) throw invalidField(src, 'num_train_timesteps', 'an integer >= 2');
  const betas = trainedBetas(src);
  if (betas && betas.length !== numTrainTimesteps) {
    throw invalidField(src, 'trained_betas', `a list of num_train_timesteps (${numTrainTimesteps}) numbers`);
  }
  const stepsOffset = int(src, 'steps_offset', 0);
  if (stepsOffset < 0) throw invalidField(src, 'steps_offset', 'a non-negative integer');
  return {
    numTrainTimesteps,
    betaStart: num(src, 'beta_start', defaults.betaStart),
    betaEnd: num(src, 'beta_end', defaults.betaEnd),
    betaSchedule: oneOf(
      src,
      'beta_schedule',
      ['linear', 'scaled_linear', 'squaredcos_cap_v2'],
      defaults.betaSchedule,
    ),
    trainedBetas: betas,
    rescaleBetasZeroSnr: bool(src, 'rescale_betas_zero_snr', false),
    predictionType: oneOf(src, 'prediction_type', ['epsilon', 'v_prediction', 'sample'], 'epsilon'),
    timestepSpacing: oneOf(
      src,
      'timestep_spacing',
      ['linspace', 'leading', 'trailing'],
      defaults.timestepSpacing,
    ),
    stepsOffset,
  };
}

export function checkStepCount(n: number, numTrainTimesteps: number, className: string): void {
  if (!Number.isInteger(n) || n < 1 || n > numTrainTimesteps) {
    throw new LorafuseError(
      'invalid-argument',
      `${className}: the number of inference steps must be an integer from 1 to num_train_timesteps (${numTrainTimesteps}), got ${n}.`,
      { steps: n },
    );
  }
}
