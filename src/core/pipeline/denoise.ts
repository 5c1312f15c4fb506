/**
 * The denoising loop of Diffusers' StableDiffusion(XL)Pipeline: per step, scale the latents for
 * the scheduler, run the UNet on [negative, positive] (one batch of 2 with guidance, one row
 * without), combine `uncond + g * (cond - uncond)`, step the scheduler. Cancellation is checked
 * before each step and after each UNet run, so an abort stops the loop within one step.
 */
import * as ort from 'onnxruntime-web';
import { LorafuseError } from '../../errors.ts';
import { downloadOutput, type NetworkSession } from '../graph/runner/session.ts';
import type { PromptConditioning } from './prompt-encoding.ts';
import type { Scheduler } from './schedulers/index.ts';

export interface StepInfo {
  /** 0-based index of the step just finished. */
  step: number;
  steps: number;
  timestep: number;
  /** Latents after this step, [1, C, h, w]; owned by the loop: copy before keeping or changing. */
  latents: Float32Array;
  /** The scheduler's estimate of the clean latents at this step, when it gives one. */
  predOriginal?: Float32Array;
}

export interface DenoiseOptions {
  /** Called after every step (Diffusers' `callback_on_step_end`); awaited before the next step. */
  onStep?: (info: StepInfo) => void | Promise<void>;
  signal?: AbortSignal;
}

export interface DenoiseInputs {
  unet: NetworkSession;
  /** Timesteps already set. */
  scheduler: Scheduler;
  /** Initial latents, already multiplied by `initNoiseSigma`; [1, C, h, w]. */
  latents: Float32Array;
  latentShape: readonly [number, number, number, number];
  cond: PromptConditioning;
  guidanceScale: number;
}

export function throwIfAborted(signal: AbortSignal | undefined, where: string): void {
  if (signal?.aborted) {
    throw new LorafuseError('cancelled', `Generation was cancelled (${where}).`, { where });
  }
}

function repeatRows(x: Float32Array, times: number): Float32Array {
  if (times === 1) return x;
  const out = new Float32Array(x.length * times);
  for (let i = 0; i < times; i++) out.set(x, i * x.length);
  return out;
}

/** `uncond + g * (cond - uncond)`, rounded to float32 after each operation as torch does. */
export function guide(output: Float32Array, guidanceScale: number): Float32Array {
  const n = output.length / 2;
  const out = new Float32Array(n);
  const g = Math.fround(guidanceScale);
  for (let i = 0; i < n; i++) {
    const u = output[i]!;
    const c = output[n + i]!;
    out[i] = u + Math.fround(g * Math.fround(c - u));
  }
  return out;
}

export async function denoise(inputs: DenoiseInputs, options: DenoiseOptions = {}): Promise<Float32Array> {
  const { unet, scheduler, cond } = inputs;
  const [, c, h, w] = inputs.latentShape;
  const batch = cond.batch;
  const steps = scheduler.timesteps.length;
  const context = new ort.Tensor('float32', cond.embeds, [batch, cond.sequence, cond.dim]);
  const added: Record<string, ort.Tensor> = {};
  if (cond.textEmbeds && cond.timeIds) {
    added.text_embeds = new ort.Tensor('float32', cond.textEmbeds, [batch, cond.pooledDim!]);
    added.time_ids = new ort.Tensor('float32', cond.timeIds, [batch, cond.timeIds.length / batch]);
  }
  let latents = inputs.latents;
  for (let i = 0; i < steps; i++) {
    throwIfAborted(options.signal, `before step ${i + 1} of ${steps}`);
    const t = scheduler.timesteps[i]!;
    const scaled = scheduler.scaleModelInput(latents, i);
    const out = await unet.run({
      sample: new ort.Tensor('float32', repeatRows(scaled, batch), [batch, c, h, w]),
      timestep: new ort.Tensor('float32', Float32Array.of(t), [1]),
      encoder_hidden_states: context,
      ...added,
    });
    throwIfAborted(options.signal, `after the UNet of step ${i + 1} of ${steps}`);
    const raw = await downloadOutput(out.out_sample!);
    const noisePred = batch === 2 ? guide(raw, inputs.guidanceScale) : raw;
    const result = scheduler.step(noisePred, i, latents);
    latents = result.prevSample;
    await options.onStep?.({
      step: i,
      steps,
      timestep: t,
      latents,
      ...(result.predOriginal ? { predOriginal: result.predOriginal } : {}),
    });
  }
  return latents;
}
