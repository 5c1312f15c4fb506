/**
 * The scheduler factory and config semantics: class mapping, Euler fallback, from_config-style
 * key handling, timestep spacings, and argument errors. Expected numbers come from the pipeline
 * fixtures (Diffusers' own `out.timesteps`) or from the spacing definitions (Lin et al. 2023,
 * Table 2), not from this code.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensors } from '../../src/core/io/safetensors.ts';
import { randn } from '../../src/core/pipeline/noise.ts';
import type { SchedulerKind } from '../../src/core/pipeline/schedulers/index.ts';
import { createScheduler, parseSchedulerConfigJson } from '../../src/core/pipeline/schedulers/index.ts';
import { LorafuseError } from '../../src/errors.ts';

const FIX = join(import.meta.dirname, '../fixtures');
const readJson = (p: string) => JSON.parse(readFileSync(join(FIX, p), 'utf8')) as Record<string, unknown>;
const sd15 = readJson('models/tiny-sd15/scheduler/scheduler_config.json');
const sdxl = readJson('models/tiny-sdxl/scheduler/scheduler_config.json');

const SD_BASE = {
  num_train_timesteps: 1000,
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  steps_offset: 1,
};

function caught(fn: () => unknown): LorafuseError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(LorafuseError);
    return e as LorafuseError;
  }
  throw new Error('expected a LorafuseError');
}

describe('pipeline cases: Class.from_config(model scheduler_config) timesteps', () => {
  const KIND: Record<string, SchedulerKind> = { EulerDiscreteScheduler: 'euler', DDIMScheduler: 'ddim' };
  const cases = (readJson('cases/index.json') as unknown as { case: string; kind: string }[])
    .filter((c) => c.kind === 'pipeline')
    .map((c) => c.case);
  expect(cases.length).toBeGreaterThan(0);
  it.each(cases)('%s', (name) => {
    const meta = readJson(`cases/${name}.json`) as {
      model: string;
      ops: { op: string; num_inference_steps?: number; scheduler?: { class: string } }[];
    };
    const call = meta.ops.find((o) => o.op === 'pipeline_call')!;
    const config = meta.model.endsWith('tiny-sdxl') ? sdxl : sd15;
    const st = readSafetensors(new Uint8Array(readFileSync(join(FIX, `cases/${name}.safetensors`))), name);
    const kind = KIND[call.scheduler!.class]!;
    const { scheduler } = createScheduler(config, { kind });
    scheduler.setTimesteps(call.num_inference_steps!);
    expect(Array.from(scheduler.timesteps)).toEqual(Array.from(st.float32('outputs.out.timesteps')));
  });
});

describe('createScheduler', () => {
  it('falls back to Euler for a class it does not implement, and says so', () => {
    const { scheduler, kind, fallbackFrom } = createScheduler(sd15);
    expect(kind).toBe('euler');
    expect(fallbackFrom).toBe('PNDMScheduler');
    scheduler.setTimesteps(4);
    expect(Array.from(scheduler.timesteps)).toEqual([751, 501, 251, 1]);
  });

  it('maps each implemented class to its kind', () => {
    const kinds = [
      ['EulerDiscreteScheduler', {}, 'euler'],
      ['EulerAncestralDiscreteScheduler', {}, 'euler-a'],
      ['DDIMScheduler', {}, 'ddim'],
      ['DPMSolverMultistepScheduler', {}, 'dpmpp-2m'],
      ['DPMSolverMultistepScheduler', { use_karras_sigmas: true }, 'dpmpp-2m-karras'],
      ['LCMScheduler', {}, 'lcm'],
    ] as const;
    for (const [cls, extra, want] of kinds) {
      const r = createScheduler({ _class_name: cls, ...SD_BASE, ...extra });
      expect(r.kind).toBe(want);
      expect(r.scheduler.kind).toBe(want);
      expect(r.fallbackFrom).toBeUndefined();
    }
  });

  it('falls back to Euler when an implemented class asks for an unsupported option', () => {
    const r = createScheduler({
      _class_name: 'DPMSolverMultistepScheduler',
      ...SD_BASE,
      algorithm_type: 'sde-dpmsolver++',
    });
    expect(r.kind).toBe('euler');
    expect(r.fallbackFrom).toMatch(/DPMSolverMultistepScheduler.*algorithm_type/);
    // Choosing DPM++ 2M explicitly means dpmsolver++ of order 2, whatever the config said.
    const chosen = createScheduler(
      { _class_name: 'DPMSolverMultistepScheduler', ...SD_BASE, algorithm_type: 'sde-dpmsolver++' },
      { kind: 'dpmpp-2m' },
    );
    expect(chosen.kind).toBe('dpmpp-2m');
  });

  it("ignores keys listed in _use_default_values, so the target class's defaults apply", () => {
    const config = {
      _class_name: 'DDIMScheduler',
      ...SD_BASE,
      timestep_spacing: 'leading',
      _use_default_values: ['timestep_spacing'],
    };
    const { scheduler } = createScheduler(config, { kind: 'euler' });
    scheduler.setTimesteps(4);
    // Euler's default spacing is linspace: linspace(0, 999, 4) reversed.
    expect(Array.from(scheduler.timesteps)).toEqual([999, 666, 333, 0]);
  });

  it('applies config overrides and rejects unknown kinds and bad values', () => {
    const { scheduler } = createScheduler(sdxl, { config: { timestep_spacing: 'trailing' } });
    scheduler.setTimesteps(4);
    expect(Array.from(scheduler.timesteps)).toEqual([999, 749, 499, 249]);
    expect(caught(() => createScheduler(sdxl, { kind: 'heun' as SchedulerKind })).code).toBe(
      'invalid-argument',
    );
    const bad = caught(() => createScheduler({ ...sdxl, timestep_spacing: 'sideways' }));
    expect(bad.code).toBe('config-invalid');
    expect(bad.message).toContain('timestep_spacing');
    expect(caught(() => createScheduler([])).code).toBe('config-invalid');
  });

  it('parses Python JSON with bare infinities', () => {
    const json = parseSchedulerConfigJson(
      '{"_class_name": "DPMSolverMultistepScheduler", "lambda_min_clipped": -Infinity, "note": "-Infinity"}',
    );
    expect(json.lambda_min_clipped).toBe(Number.NEGATIVE_INFINITY);
    expect(json.note).toBe('-Infinity');
    expect(caught(() => parseSchedulerConfigJson('{oops', 'x.json')).message).toContain('x.json');
  });
});

describe('timestep spacing (Lin et al. 2023, Table 2: T = 1000, 10 steps)', () => {
  const ladder = (start: number, step: number) => Array.from({ length: 10 }, (_, i) => start - i * step);
  it.each([
    ['euler', 'linspace', 0, ladder(999, 111)],
    ['euler', 'leading', 0, ladder(900, 100)],
    ['euler', 'leading', 1, ladder(901, 100)],
    ['euler', 'trailing', 0, ladder(999, 100)],
    ['ddim', 'linspace', 0, ladder(999, 111)],
    ['ddim', 'leading', 1, ladder(901, 100)],
    ['ddim', 'trailing', 0, ladder(999, 100)],
    ['euler-a', 'trailing', 0, ladder(999, 100)],
  ] as const)('%s %s offset %d', (kind, spacing, offset, want) => {
    const { scheduler } = createScheduler(
      { ...SD_BASE, timestep_spacing: spacing, steps_offset: offset },
      { kind },
    );
    scheduler.setTimesteps(10);
    expect(Array.from(scheduler.timesteps)).toEqual(want);
  });

  it('DPM-Solver drops the last of n + 1 linspace points, rounding half to even', () => {
    const { scheduler } = createScheduler({ ...SD_BASE, timestep_spacing: 'linspace' }, { kind: 'dpmpp-2m' });
    scheduler.setTimesteps(4); // linspace(0, 999, 5) = 0, 249.75, 499.5, 749.25, 999
    expect(Array.from(scheduler.timesteps)).toEqual([999, 749, 500, 250]);
  });

  it('Karras sigmas run from the largest to the smallest training sigma', () => {
    for (const kind of ['euler', 'dpmpp-2m-karras'] as const) {
      const { scheduler } = createScheduler(
        { ...SD_BASE, use_karras_sigmas: true, timestep_spacing: 'linspace' },
        { kind },
      );
      scheduler.setTimesteps(8);
      const s = Array.from(scheduler.sigmas!);
      expect(s[s.length - 1]).toBe(0);
      for (let i = 1; i < 8; i++) expect(s[i]!).toBeLessThan(s[i - 1]!);
      expect(scheduler.timesteps[0]).toBeCloseTo(999, 3);
      expect(scheduler.timesteps[7]).toBeCloseTo(0, 3);
    }
  });
});

describe('step arguments and state', () => {
  it('rejects bad step counts, indices and mismatched lengths', () => {
    const { scheduler } = createScheduler(sdxl);
    expect(caught(() => scheduler.step(new Float32Array(4), 0, new Float32Array(4))).message).toMatch(
      /setTimesteps/,
    );
    expect(caught(() => scheduler.setTimesteps(0)).code).toBe('invalid-argument');
    expect(caught(() => scheduler.setTimesteps(2.5)).code).toBe('invalid-argument');
    scheduler.setTimesteps(3);
    expect(caught(() => scheduler.step(new Float32Array(4), 3, new Float32Array(4))).message).toMatch(
      /0\.\.2/,
    );
    expect(caught(() => scheduler.step(new Float32Array(4), 0, new Float32Array(5))).message).toMatch(
      /modelOutput/,
    );
    const lcm = createScheduler({ _class_name: 'LCMScheduler' }).scheduler;
    expect(caught(() => lcm.setTimesteps(51)).message).toMatch(/original_inference_steps/);
  });

  it('DPM++ runs its steps in order and restarts at step 0', () => {
    const { scheduler } = createScheduler({ ...SD_BASE }, { kind: 'dpmpp-2m' });
    scheduler.setTimesteps(4);
    const x = randn(16, 1);
    const out = randn(16, 2);
    const first = scheduler.step(out, 0, x).prevSample;
    expect(caught(() => scheduler.step(out, 2, first)).message).toMatch(/expected step 1/);
    expect(scheduler.step(out, 0, x).prevSample).toEqual(first);
  });

  it('stochastic steps draw from the seeded generator when no noise is given', () => {
    for (const kind of ['euler-a', 'lcm'] as const) {
      const run = (seed: number, noise?: Float32Array) => {
        const { scheduler } = createScheduler({ ...SD_BASE }, { kind }, { seed });
        scheduler.setTimesteps(4);
        return scheduler.step(randn(32, 5), 0, randn(32, 6), noise ? { noise } : {}).prevSample;
      };
      expect(run(7)).toEqual(run(7));
      expect(run(7)).toEqual(run(123, randn(32, 7)));
      expect(run(7)).not.toEqual(run(8));
    }
  });
});
