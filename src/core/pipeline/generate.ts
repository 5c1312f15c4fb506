/**
 * Text to image on a loaded model, with Diffusers' StableDiffusion(XL)Pipeline semantics: encode
 * the prompt, set the scheduler's timesteps, start from the given latents (before
 * `init_noise_sigma` scaling, like Diffusers' `latents=` argument) or from seeded noise, denoise
 * with classifier-free guidance when `guidanceScale > 1`, then decode with the VAE unless only
 * latents are asked for. The seed drives both the initial noise and any noise a stochastic
 * scheduler draws (one generator, as Diffusers passes one `generator` to both).
 */
import { LorafuseError } from '../../errors.ts';
import { type DecodedImage, postprocess, unscaleLatents, vaeDecode } from './decode-image.ts';
import { type DenoiseOptions, denoise, throwIfAborted } from './denoise.ts';
import type { LoadedModel } from './model.ts';
import { createNoiseGenerator } from './noise.ts';
import { encodePrompt } from './prompt-encoding.ts';
import type { PromptOptions } from './prompt-weighting.ts';
import { createScheduler, type SchedulerKind, type SchedulerOverride } from './schedulers/index.ts';

/** `emphasis` and `longPrompts` (A1111 prompt syntax, both off by default): see prompt-weighting.ts. */
export interface GenerateRequest extends PromptOptions {
  prompt: string;
  /** Undefined or '' for none. */
  negativePrompt?: string;
  steps: number;
  guidanceScale: number;
  seed: number;
  /** Pixels; default `unet.sample_size * vae_scale_factor`. Multiples of the VAE scale factor. */
  width?: number;
  height?: number;
  /** Another sampler or extra config keys; default: the model's scheduler_config.json. */
  scheduler?: SchedulerOverride;
  /** Initial latents [1, C, h, w] before `init_noise_sigma` scaling; default: seeded noise. */
  latents?: Float32Array;
  /** 'latent' skips the VAE (Diffusers' `output_type="latent"`). Default 'image'. */
  output?: 'image' | 'latent';
}

export interface GenerateResult {
  /** Final latents [1, C, h, w] (before VAE scaling). */
  latents: Float32Array;
  latentShape: [number, number, number, number];
  /** The timesteps the UNet saw, one per step. */
  timesteps: Float32Array;
  /** Absent for `output: 'latent'`. */
  image?: DecodedImage;
  schedulerKind: SchedulerKind;
  /** Set when the scheduler config asked for a sampler we do not implement and Euler ran instead. */
  schedulerFallback?: string;
  /** Input ids per text encoder. */
  promptIds: number[][];
  negativeIds: number[][];
  /** Prompt text cut off by each tokenizer (empty strings when nothing was cut). */
  truncated: string[];
}

export type GenerateOptions = DenoiseOptions;

function invalid(message: string, details: Record<string, unknown>): LorafuseError {
  return new LorafuseError('invalid-argument', message, details);
}

function checkRequest(model: LoadedModel, req: GenerateRequest, width: number, height: number): void {
  if (!Number.isInteger(req.steps) || req.steps < 1) {
    throw invalid(`steps must be a positive integer, got ${req.steps}.`, { steps: req.steps });
  }
  if (!Number.isFinite(req.guidanceScale)) {
    throw invalid(`guidanceScale must be a number, got ${req.guidanceScale}.`, {
      guidanceScale: req.guidanceScale,
    });
  }
  const f = model.vaeScaleFactor;
  for (const [name, v] of [
    ['width', width],
    ['height', height],
  ] as const) {
    if (!Number.isInteger(v) || v < f || v % f !== 0) {
      throw invalid(`${name} must be a positive multiple of ${f} (the VAE scale factor), got ${v}.`, {
        [name]: v,
      });
    }
  }
}

/** `unet.sample_size * vae_scale_factor` as [height, width] (sample_size may be one number or [h, w]). */
export function defaultSize(model: LoadedModel): [number, number] {
  const s = model.unetConfig.sampleSize ?? 64;
  const [h, w] = Array.isArray(s) ? [s[0] ?? 64, s[1] ?? s[0] ?? 64] : [s, s];
  return [h * model.vaeScaleFactor, w * model.vaeScaleFactor];
}

export async function generate(
  model: LoadedModel,
  req: GenerateRequest,
  options: GenerateOptions = {},
): Promise<GenerateResult> {
  const [defaultHeight, defaultWidth] = defaultSize(model);
  const width = req.width ?? defaultWidth;
  const height = req.height ?? defaultHeight;
  checkRequest(model, req, width, height);
  const latentShape: [number, number, number, number] = [
    1,
    model.unetConfig.inChannels,
    height / model.vaeScaleFactor,
    width / model.vaeScaleFactor,
  ];
  const count = latentShape.reduce((a, b) => a * b, 1);
  if (req.latents && req.latents.length !== count) {
    throw invalid(
      `latents must hold ${count} values ([${latentShape}] for ${width}x${height}), got ${req.latents.length}.`,
      { expected: latentShape, got: req.latents.length },
    );
  }

  throwIfAborted(options.signal, 'before encoding the prompt');
  const guided = req.guidanceScale > 1;
  const cond = await encodePrompt(model, {
    prompt: req.prompt,
    ...(req.negativePrompt !== undefined ? { negativePrompt: req.negativePrompt } : {}),
    guided,
    width,
    height,
    emphasis: req.emphasis,
    longPrompts: req.longPrompts,
  });

  const generator = createNoiseGenerator(req.seed);
  const initial = req.latents ?? generator.normal(count);
  const created = createScheduler(model.schedulerConfig, req.scheduler ?? {}, { generator });
  const scheduler = created.scheduler;
  scheduler.setTimesteps(req.steps);
  const sigma = Math.fround(scheduler.initNoiseSigma);
  const latents = await denoise(
    {
      unet: model.unet,
      scheduler,
      latents: initial.map((v) => v * sigma),
      latentShape,
      cond,
      guidanceScale: req.guidanceScale,
    },
    options,
  );

  const result: GenerateResult = {
    latents,
    latentShape,
    timesteps: Float32Array.from(scheduler.timesteps),
    schedulerKind: created.kind,
    ...(created.fallbackFrom ? { schedulerFallback: created.fallbackFrom } : {}),
    promptIds: cond.promptIds,
    negativeIds: cond.negativeIds,
    truncated: cond.truncated,
  };
  if (req.output !== 'latent') {
    throwIfAborted(options.signal, 'before decoding the image');
    const sample = await vaeDecode(
      model.vae,
      unscaleLatents(latents, model.vaeConfig.scalingFactor),
      latentShape,
    );
    result.image = postprocess(sample);
  }
  return result;
}
