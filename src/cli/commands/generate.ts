/**
 * `lorafuse generate --model DIR_OR_REPO [--lora SOURCE[:W]]... --prompt P [--negative N]
 * [--steps N] [--seed S] [--guidance G] [--scheduler KIND] [--size WxH] [--schedule NAME=SPEC]...
 * [--threads N] [--emphasis] [--long-prompts] -o out.png`: text to image on the CPU path
 * (onnxruntime-web wasm), with LoRA adapters merged into the networks' weights by the adapter
 * manager.
 *
 * - `--model` (alias `--base`): a diffusers pipeline folder or Hub repo id.
 * - `--lora SOURCE[:W]` (lora-source.ts): a local file, `REPO/FILE.safetensors` or a `REPO` with
 *   one `.safetensors`; the adapter is named after the file's stem; `W` (default 1) multiplies its
 *   schedule.
 * - `--schedule NAME=SPEC`: a loractl schedule (`0.8`, `0@0,1@0.5`; schedule.ts) for the adapter
 *   NAME, or for `scale`, the global LoRA scale. Per step the UNet runs each adapter at
 *   `scale(step) * W * schedule(step)` (set after each step, Diffusers' step-callback pattern);
 *   the text encoders run once, before step 0, at the step-0 value.
 * - The scheduler defaults to the model's `scheduler_config.json`; a class lorafuse does not
 *   implement (PNDM, LMS, ...) runs as Euler on the same config, and the command says so.
 * - `--emphasis`: A1111 prompt emphasis, `(word)` x1.1, `[word]` /1.1, `(word:1.3)`, `\(` a
 *   literal bracket; `--long-prompts`: prompts past 75 tokens are encoded in 75-token chunks
 *   rather than cut (prompt-weighting.ts). Both off by default, as in Diffusers.
 * - The size defaults to the model's (`unet.sample_size * vae_scale_factor`); the seed to a random
 *   one, printed.
 * - The PNG carries every setting as A1111's `parameters` text (generation-params.ts), so it can
 *   be read back and replayed.
 */
import { randomInt } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, resolve } from 'node:path';
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';
import * as ort from 'onnxruntime-web';
import { PARAMETERS_KEYWORD } from '../../core/image/png-chunks.ts';
import { encodePng } from '../../core/image/png-encode.ts';
import { HubModelSource, resolveModelSource } from '../../core/io/model-source.ts';
import { createMergeBackend } from '../../core/lora/merge-fast/create-backend.ts';
import type { MergeBackend } from '../../core/lora/merge-fast/merge-backend.ts';
import { sessionAdapterManager } from '../../core/pipeline/adapters/session-sink.ts';
import type { AdapterManager, AdapterWeightInput } from '../../core/pipeline/adapters.ts';
import { defaultSize, generate } from '../../core/pipeline/generate.ts';
import { formatGenerationParams, type GenerationParams } from '../../core/pipeline/generation-params.ts';
import { type LoadedModel, loadModel } from '../../core/pipeline/model.ts';
import { isKeyframes, parseSchedule, type Schedule } from '../../core/pipeline/schedule.ts';
import {
  createScheduler,
  SCHEDULER_KINDS,
  type SchedulerKind,
  schedulerClassName,
} from '../../core/pipeline/schedulers/index.ts';
import { stepAdapterWeights } from '../../core/pipeline/step-weights.ts';
import { LorafuseError } from '../../errors.ts';
import { cliHubOptions } from '../hub-options.ts';
import { type ResolvedLora, resolveLoraSource } from '../lora-source.ts';
import { parseWeighted } from './merge.ts';

const USAGE =
  'usage: lorafuse generate --model DIR_OR_REPO [--lora SOURCE[:W]]... --prompt P [--negative N] ' +
  '[--steps N] [--seed S] [--guidance G] [--scheduler ' +
  `${SCHEDULER_KINDS.join('|')}] [--size WxH] [--schedule NAME=SPEC]... [--threads N] [--emphasis] ` +
  '[--long-prompts] -o out.png';

/** Diffusers' StableDiffusionPipeline defaults. */
const DEFAULT_STEPS = 50;
const DEFAULT_GUIDANCE = 7.5;
/** The `--schedule` name of the global LoRA scale. */
const SCALE = 'scale';

function invalid(message: string, details: Record<string, unknown> = {}, cause?: unknown): LorafuseError {
  return new LorafuseError('invalid-argument', message, details, cause === undefined ? undefined : { cause });
}

function integerOption(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const x = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(x) || x < min) {
    throw invalid(`--${name} '${value}' must be an integer >= ${min}.`, { [name]: value });
  }
  return x;
}

function numberOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const x = Number(value);
  if (value.trim() === '' || !Number.isFinite(x))
    throw invalid(`--${name} '${value}' is not a number.`, { [name]: value });
  return x;
}

/** `WxH` in pixels. */
export function parseSize(text: string): { width: number; height: number } {
  const m = /^(\d+)[xX](\d+)$/.exec(text.trim());
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) {
    throw invalid(`--size '${text}' must be WIDTHxHEIGHT in pixels, e.g. 512x768.`, { size: text });
  }
  return { width: Number(m[1]), height: Number(m[2]) };
}

function schedulerOption(value: string | undefined): SchedulerKind | undefined {
  if (value === undefined) return undefined;
  if (!(SCHEDULER_KINDS as readonly string[]).includes(value)) {
    throw invalid(`--scheduler '${value}' is not one of ${SCHEDULER_KINDS.join(', ')}.`, {
      scheduler: value,
    });
  }
  return value as SchedulerKind;
}

/** `NAME=SPEC` pairs, by name; a name given twice is an error. */
export function parseScheduleOptions(specs: readonly string[]): Map<string, Schedule> {
  const out = new Map<string, Schedule>();
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    const name = eq > 0 ? spec.slice(0, eq).trim() : '';
    if (name === '') {
      throw invalid(
        `--schedule '${spec}' must be NAME=SPEC: an adapter name (the LoRA file's stem) or '${SCALE}', then a weight or weight@position pairs (e.g. style=0@0,1@0.5).`,
        { schedule: spec },
      );
    }
    if (out.has(name)) throw invalid(`--schedule gives '${name}' twice.`, { name });
    out.set(name, parseSchedule(spec.slice(eq + 1)));
  }
  return out;
}

/** A schedule with every weight multiplied by `w` (the `:W` of `--lora`). */
export function scaleSchedule(s: Schedule, w: number): Schedule {
  if (w === 1) return s;
  if (typeof s === 'number') return s * w;
  if (isKeyframes(s)) return s.map(([p, v]) => [p, v * w] as const);
  return (s as readonly number[]).map((v) => v * w);
}

interface AdapterPlan {
  lora: ResolvedLora;
  /** The adapter's own schedule, `:W` folded in. */
  schedule: Schedule;
}

/** Names the adapters, checks the schedules against them, and folds `:W` into each schedule. */
export function planAdapters(
  loras: readonly { lora: ResolvedLora; weight: number }[],
  schedules: ReadonlyMap<string, Schedule>,
): AdapterPlan[] {
  const seen = new Map<string, string>();
  for (const { lora } of loras) {
    if (lora.name === SCALE) {
      throw invalid(
        `--lora ${lora.file}: the adapter would be named '${SCALE}', which --schedule uses for the global scale; rename the file.`,
        { file: lora.file },
      );
    }
    if (lora.name === '' || /[;=]/.test(lora.name) || lora.name.trim() !== lora.name) {
      throw invalid(
        `--lora ${lora.file}: the adapter name '${lora.name}' (the file's stem) must be non-empty, without ';', '=' or edge spaces, to be written in the PNG's parameters; rename the file.`,
        { file: lora.file },
      );
    }
    const other = seen.get(lora.name);
    if (other !== undefined) {
      throw invalid(
        `--lora ${other} and ${lora.file} would both be named '${lora.name}' (adapters are named after the file's stem); rename one.`,
        { name: lora.name, files: [other, lora.file] },
      );
    }
    seen.set(lora.name, lora.file);
  }
  for (const name of schedules.keys()) {
    if (name !== SCALE && !seen.has(name)) {
      throw invalid(
        `--schedule ${name}=...: no adapter is named '${name}'; the adapters are ${seen.size > 0 ? [...seen.keys()].join(', ') : 'none (no --lora given)'}, plus '${SCALE}' for the global scale.`,
        { name, adapters: [...seen.keys()] },
      );
    }
  }
  if (schedules.has(SCALE) && loras.length === 0) {
    throw invalid(`--schedule ${SCALE}=...: the global LoRA scale needs at least one --lora.`, {});
  }
  return loras.map(({ lora, weight }) => ({
    lora,
    schedule: scaleSchedule(schedules.get(lora.name) ?? 1, weight),
  }));
}

/**
 * What `setAdapters` gets before step `step`: per adapter, the UNet at
 * `scale(step) * schedule(step)` and the text encoders at the step-0 value.
 */
export function stepWeights(
  plans: readonly AdapterPlan[],
  scale: Schedule,
  step: number,
  steps: number,
): AdapterWeightInput[] {
  return stepAdapterWeights(
    plans.map((p) => ({ name: p.lora.name, weight: 1, schedule: p.schedule })),
    scale,
    step,
    steps,
  );
}

/** The model's name for the PNG: a folder's name, or the repo id. */
function modelName(arg: string, describe: string, isHub: boolean): string {
  return isHub ? arg : basename(resolve(describe));
}

function note(message: string): void {
  console.error(`lorafuse generate: note: ${message}`);
}

function progress(text: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r${text}\u001b[K`);
}

async function attachAdapters(
  model: LoadedModel,
  plans: readonly AdapterPlan[],
  merge: MergeBackend,
): Promise<AdapterManager> {
  const manager = sessionAdapterManager(model, { merge });
  for (const { lora } of plans) {
    progress(`loading LoRA ${lora.name}`);
    await manager.loadLoraWeights({ bytes: lora.bytes, name: lora.file }, { adapterName: lora.name });
  }
  return manager;
}

const OPTIONS = {
  model: { type: 'string' },
  base: { type: 'string' },
  lora: { type: 'string', multiple: true, default: [] },
  prompt: { type: 'string' },
  negative: { type: 'string', default: '' },
  steps: { type: 'string' },
  seed: { type: 'string' },
  guidance: { type: 'string' },
  scheduler: { type: 'string' },
  size: { type: 'string' },
  schedule: { type: 'string', multiple: true, default: [] },
  threads: { type: 'string' },
  emphasis: { type: 'boolean', default: false },
  'long-prompts': { type: 'boolean', default: false },
  output: { type: 'string', short: 'o' },
} satisfies ParseArgsOptionsConfig;

function parseOptions(args: string[]) {
  try {
    return parseArgs({ args, allowPositionals: false, options: OPTIONS }).values;
  } catch (e) {
    // node:util reports unknown options and stray arguments as plain TypeErrors.
    throw invalid(`${(e as Error).message}\n${USAGE}`, {}, e);
  }
}

export async function run(args: string[]): Promise<number> {
  const values = parseOptions(args);
  if (values.model !== undefined && values.base !== undefined && values.model !== values.base) {
    throw invalid(
      `--model and --base name the same thing; give one (got '${values.model}' and '${values.base}').`,
    );
  }
  const modelArg = values.model ?? values.base;
  if (!modelArg || values.prompt === undefined || !values.output) {
    throw invalid(`${USAGE}\n(--model, --prompt and -o are required)`);
  }
  const steps = integerOption('steps', values.steps, 1) ?? DEFAULT_STEPS;
  const seed = integerOption('seed', values.seed, 0) ?? randomInt(2 ** 32);
  const guidance = numberOption('guidance', values.guidance) ?? DEFAULT_GUIDANCE;
  const kind = schedulerOption(values.scheduler);
  const size = values.size === undefined ? undefined : parseSize(values.size);
  const threads = integerOption('threads', values.threads, 1) ?? Math.min(4, availableParallelism());
  const schedules = parseScheduleOptions(values.schedule);
  const loraArgs = values.lora.map(parseWeighted);

  // Everything a user can get wrong is checked before the model loads.
  const hub = cliHubOptions();
  const loras: { lora: ResolvedLora; weight: number }[] = [];
  for (const { file, weight } of loraArgs) loras.push({ lora: await resolveLoraSource(file, hub), weight });
  const plans = planAdapters(loras, schedules);
  const scale = schedules.get(SCALE) ?? 1;

  ort.env.wasm.numThreads = threads;
  const src = await resolveModelSource(modelArg, hub);
  progress(`loading ${src.describe}`);
  const model = await loadModel(src, { onProgress: (c) => progress(`loaded ${c}`) });
  let merge: MergeBackend | undefined;
  try {
    const [defaultHeight, defaultWidth] = defaultSize(model);
    const width = size?.width ?? defaultWidth;
    const height = size?.height ?? defaultHeight;
    const created = createScheduler(model.schedulerConfig, kind ? { kind } : {});
    if (created.fallbackFrom) {
      note(
        `the model's scheduler (${created.fallbackFrom}) is not implemented; running Euler (${schedulerClassName('euler')}) on its scheduler_config.json instead. Pass --scheduler ${SCHEDULER_KINDS.join('|')} to choose.`,
      );
    }
    const params: GenerationParams = {
      prompt: values.prompt,
      negativePrompt: values.negative,
      steps,
      scheduler: created.kind,
      cfgScale: guidance,
      seed,
      width,
      height,
      model: modelName(modelArg, src.describe, src instanceof HubModelSource),
      ...(plans.length > 0
        ? { adapterSchedules: Object.fromEntries(plans.map((p) => [p.lora.name, p.schedule])) }
        : {}),
      ...(schedules.has(SCALE) ? { scaleSchedule: scale } : {}),
    };
    const text = formatGenerationParams(params);

    let setWeights: ((step: number) => Promise<void>) | undefined;
    if (plans.length > 0) {
      merge = await createMergeBackend({ threads });
      const manager = await attachAdapters(model, plans, merge);
      const names = plans.map((p) => p.lora.name);
      let applied = '';
      setWeights = async (step) => {
        const weights = stepWeights(plans, scale, step, steps);
        const key = JSON.stringify(weights);
        if (key === applied) return;
        await manager.setAdapters(names, weights);
        applied = key;
      };
      await setWeights(0);
    }

    const started = performance.now();
    const result = await generate(
      model,
      {
        prompt: values.prompt,
        negativePrompt: values.negative,
        steps,
        guidanceScale: guidance,
        seed,
        width,
        height,
        scheduler: kind ? { kind } : {},
        emphasis: values.emphasis,
        longPrompts: values['long-prompts'],
      },
      {
        onStep: async ({ step }) => {
          progress(`step ${step + 1}/${steps}`);
          if (setWeights && step + 1 < steps) await setWeights(step + 1);
        },
      },
    );
    progress('');
    const image = result.image;
    if (!image) throw new LorafuseError('internal', 'generate returned no image.', {});
    const png = await encodePng(image.rgba, image.width, image.height, {
      text: [{ keyword: PARAMETERS_KEYWORD, text }],
    });
    await writeFile(values.output, png);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const adapters = plans.length > 0 ? `, LoRA ${plans.map((p) => p.lora.name).join(', ')}` : '';
    console.log(
      `${values.output}: ${image.width}x${image.height}, ${steps} steps ${result.schedulerKind}, seed ${seed}${adapters} (${seconds} s)`,
    );
    return 0;
  } finally {
    progress('');
    try {
      await model.release();
    } finally {
      await merge?.dispose();
    }
  }
}
