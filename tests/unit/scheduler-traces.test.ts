/**
 * Every scheduler against Diffusers 0.39 traces (tests/fixtures/schedulers): same config, same
 * model outputs, same per-step noise; our chain runs on its own samples, step after step.
 *
 * Tolerance: 2e-6 relative to the largest value of the reference tensor (3e-6 over 20 steps);
 * observed: at most 5.1e-7 (DDIM v-prediction, 20 steps), several 4-step cases bit-exact.
 * Each step is float32 arithmetic in torch's operation order; what differs is a rare last-bit
 * rounding (torch's CPU kernels vs correctly rounded scalar math; alphas_cumprod agrees with
 * torch to 1 ulp), i.e. ~1e-7 per step, and the chain carries it forward. A wrong formula, sign,
 * sigma or timestep moves values by 1e-3 or more.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensors } from '../../src/core/io/safetensors.ts';
import { createScheduler, parseSchedulerConfigJson } from '../../src/core/pipeline/schedulers/index.ts';

const DIR = join(import.meta.dirname, '../fixtures/schedulers');
const cases = JSON.parse(readFileSync(join(DIR, 'index.json'), 'utf8')) as string[];

interface TraceCase {
  class: string;
  config: Record<string, unknown>;
  steps: number;
}

function maxRelErr(got: Float32Array, want: Float32Array): number {
  expect(got.length).toBe(want.length);
  let scale = 0;
  let err = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]!));
    err = Math.max(err, Math.abs(got[i]! - want[i]!));
  }
  return err / Math.max(scale, 1e-30);
}

describe.each(cases)('scheduler trace %s', (name) => {
  // Case files are Python JSON: DPMSolver's lambda_min_clipped is a bare -Infinity.
  const meta = parseSchedulerConfigJson(
    readFileSync(join(DIR, `${name}.json`), 'utf8'),
  ) as unknown as TraceCase;
  const st = readSafetensors(
    new Uint8Array(readFileSync(join(DIR, `${name}.safetensors`))),
    `${name}.safetensors`,
  );
  const tol = meta.steps > 10 ? 3e-6 : 2e-6;

  it('matches timesteps, sigmas and init_noise_sigma', () => {
    const { scheduler, fallbackFrom } = createScheduler({ _class_name: meta.class, ...meta.config });
    expect(fallbackFrom).toBeUndefined();
    expect(scheduler.className).toBe(meta.class);
    scheduler.setTimesteps(meta.steps);
    expect(Array.from(scheduler.timesteps)).toEqual(Array.from(st.float32('timesteps')));
    if (st.names().includes('sigmas'))
      expect(maxRelErr(scheduler.sigmas!, st.float32('sigmas'))).toBeLessThan(1e-6);
    expect(scheduler.initNoiseSigma).toBeCloseTo(st.float32('init_noise_sigma')[0]!, 5);
  });

  it('matches every step', () => {
    const { scheduler } = createScheduler({ _class_name: meta.class, ...meta.config });
    scheduler.setTimesteps(meta.steps);
    let sample = st.float32('x0');
    for (let i = 0; i < meta.steps; i++) {
      const input = scheduler.scaleModelInput(sample, i);
      expect(maxRelErr(input, st.float32(`step${i}.model_input`)), `step ${i} model input`).toBeLessThan(tol);
      const { prevSample } = scheduler.step(st.float32(`step${i}.model_output`), i, sample, {
        noise: st.float32(`step${i}.noise`),
      });
      expect(maxRelErr(prevSample, st.float32(`step${i}.prev_sample`)), `step ${i} prev_sample`).toBeLessThan(
        tol,
      );
      sample = prevSample;
    }
  });
});
