/**
 * Runs one reference case (tests/fixtures/README.md, "Case JSON") on lorafuse: ops in order on a
 * freshly loaded pipeline, every key of the case's `outputs` produced as a float32 tensor. Compute
 * ops (`unet_forward`, `text_encoder_forward`, `vae_decode`, `get_weight`, `pipeline_call`) run
 * here; LoRA state ops go through `CaseStateOps`. Paths: `model` is relative to the fixture set's
 * root; the case's tensors (`inputs.<name>`) come opened by the caller.
 */
import * as ort from 'onnxruntime-web';
import { LorafuseError } from '../../errors.ts';
import { readWeightValues } from '../gpu/read-buffer.ts';
import type { JsonObject } from '../graph/config/json-fields.ts';
import { downloadOutput, type NetworkSessionOptions } from '../graph/runner/session.ts';
import type { ModelSource } from '../io/model-source.ts';
import type { SafetensorsFile } from '../io/safetensors.ts';
import { vaeDecode } from '../pipeline/decode-image.ts';
import { generate } from '../pipeline/generate.ts';
import { type LoadedModel, loadModel } from '../pipeline/model.ts';
import { kindOfConfig } from '../pipeline/schedulers/index.ts';
import {
  type CaseJson,
  type GetWeightOp,
  isStateOp,
  type PipelineCallOp,
  parseCaseJson,
  type TextEncoderForwardOp,
  type UnetForwardOp,
  type VaeDecodeOp,
} from './case-json.ts';
import { baseStateOps, type CaseStateContext, type CaseStateOps, type CaseTensor } from './state-ops.ts';
import { subSource } from './sub-source.ts';

export interface RunCaseIo {
  /** The fixture set's root (the folder holding `cases/`). */
  root: ModelSource;
  /** The case's `tensors_file`, opened. */
  tensors: SafetensorsFile;
  /** The LoRA side; default `baseStateOps` (state ops refused with `not-implemented`). */
  stateOps?: CaseStateOps;
  /** Session options for a model the runner loads (execution providers). */
  session?: NetworkSessionOptions;
  /**
   * Supplies the model instead of loading `root/<model>`; the caller then owns (and releases) it.
   * Only for cases without state ops, which never change the model.
   */
  model?: (path: string) => Promise<LoadedModel>;
}

export type CaseOutputs = Map<string, CaseTensor>;

async function tensorOf(t: ort.Tensor): Promise<CaseTensor> {
  return { shape: [...t.dims], data: await downloadOutput(t) };
}

function input(io: RunCaseIo, name: string): ort.Tensor {
  const key = `inputs.${name}`;
  const info = io.tensors.info(key);
  return new ort.Tensor('float32', io.tensors.float32(key), [...info.shape]);
}

async function unetForward(model: LoadedModel, io: RunCaseIo, op: UnetForwardOp): Promise<CaseTensor> {
  const feeds: Record<string, ort.Tensor> = {
    sample: input(io, op.sample),
    timestep: new ort.Tensor('float32', Float32Array.of(op.timestep), [1]),
    encoder_hidden_states: input(io, op.encoder_hidden_states),
  };
  if (op.added_cond_kwargs) {
    feeds.text_embeds = input(io, op.added_cond_kwargs.text_embeds);
    feeds.time_ids = input(io, op.added_cond_kwargs.time_ids);
  }
  return await tensorOf((await model.unet.run(feeds)).out_sample!);
}

async function textEncoderForward(
  model: LoadedModel,
  io: RunCaseIo,
  op: TextEncoderForwardOp,
): Promise<Map<string, CaseTensor>> {
  const ids = input(io, op.input_ids);
  const session = model.session(op.component);
  const out = await session.run({
    input_ids: new ort.Tensor('int32', Int32Array.from(ids.data as Float32Array), ids.dims),
  });
  const result = new Map<string, CaseTensor>();
  for (const [which, name] of Object.entries(op.outputs)) {
    const t = out[which];
    if (!t) {
      throw new LorafuseError(
        'not-implemented',
        `text_encoder_forward: ${op.component} has no output '${which}' (it has ${Object.keys(out).join(', ')}).`,
        { component: op.component, output: which },
      );
    }
    result.set(name, await tensorOf(t));
  }
  return result;
}

async function getWeight(
  model: LoadedModel,
  op: GetWeightOp,
  stateOps: CaseStateOps,
  ctx: CaseStateContext,
): Promise<CaseTensor> {
  const fused = await stateOps.fusedWeight(op.component, op.module, ctx);
  if (fused) return fused;
  const key = `${op.module}.weight`;
  const session = model.session(op.component);
  const t = session.getWeight(key);
  if (!t) {
    throw new LorafuseError('invalid-argument', `get_weight: ${op.component} has no weight '${key}'.`, {
      component: op.component,
      key,
    });
  }
  if (t.location === 'cpu') return { shape: [...t.dims], data: Float32Array.from(t.data as Float32Array) };
  // A weight in one of our GPU buffers (a WebGPU session) is read back from the buffer itself:
  // ORT tensors made with `fromGpuBuffer` have no downloader.
  if (t.location !== 'gpu-buffer' || !session.device || (t.type !== 'float32' && t.type !== 'float16')) {
    throw new LorafuseError(
      'not-implemented',
      `get_weight: ${op.component} '${key}' is a ${t.type} ${t.location} tensor, which the case runner cannot read.`,
      { component: op.component, key },
    );
  }
  const count = t.dims.reduce((a, b) => a * b, 1);
  const data = await readWeightValues(
    session.device,
    t.gpuBuffer,
    t.type === 'float16' ? 'f16' : 'f32',
    count,
  );
  return { shape: [...t.dims], data };
}

/** The sampler Diffusers' `Class.from_config(scheduler_config, **overrides)` gives. */
function schedulerFor(model: LoadedModel, op: PipelineCallOp) {
  const overrides = (op.scheduler.overrides ?? {}) as JsonObject;
  const kind = kindOfConfig({ ...model.schedulerConfig, ...overrides, _class_name: op.scheduler.class });
  if (!kind) {
    throw new LorafuseError(
      'not-implemented',
      `pipeline_call: scheduler class '${op.scheduler.class}' is not implemented.`,
      { scheduler: op.scheduler.class },
    );
  }
  return { kind, config: overrides };
}

function idsTensor(ids: number[]): CaseTensor {
  return { shape: [1, ids.length], data: Float32Array.from(ids) };
}

async function pipelineCall(
  model: LoadedModel,
  io: RunCaseIo,
  op: PipelineCallOp,
  stateOps: CaseStateOps,
  ctx: CaseStateContext,
): Promise<Map<string, CaseTensor>> {
  if (op.output_type !== 'latent' && op.output_type !== 'np') {
    throw new LorafuseError(
      'not-implemented',
      `pipeline_call: output_type '${op.output_type}' (the runner stores 'latent' or 'np').`,
      { outputType: op.output_type },
    );
  }
  if (op.eta !== undefined && op.eta !== 0) {
    throw new LorafuseError(
      'not-implemented',
      `pipeline_call: eta ${op.eta} (only eta = 0 is implemented).`,
      {
        eta: op.eta,
      },
    );
  }
  const result = new Map<string, CaseTensor>();
  const schedule = op.callback_set_adapters;
  const setWeights = async (k: number) => {
    if (!schedule || k >= schedule.weights_per_step.length) return;
    await stateOps.apply(
      {
        op: 'set_adapters',
        adapter_names: schedule.adapter_names,
        adapter_weights: schedule.weights_per_step[k],
      },
      ctx,
    );
  };
  const latents = op.latents ? input(io, op.latents) : undefined;
  const call = async () => {
    await setWeights(0);
    return generate(
      model,
      {
        prompt: op.prompt,
        ...(op.negative_prompt !== null ? { negativePrompt: op.negative_prompt } : {}),
        steps: op.num_inference_steps,
        guidanceScale: op.guidance_scale,
        seed: op.generator_seed ?? 0,
        width: op.width,
        height: op.height,
        scheduler: schedulerFor(model, op),
        ...(latents ? { latents: latents.data as Float32Array } : {}),
        output: op.output_type === 'latent' ? 'latent' : 'image',
      },
      {
        onStep: async ({ step, latents: l }) => {
          result.set(`${op.out}.latents_step${step}`, {
            shape: [...latentShapeOf(model, op)],
            data: l.slice(),
          });
          await setWeights(step + 1);
        },
      },
    );
  };
  const scale = op.cross_attention_kwargs?.scale;
  const r = scale === undefined ? await call() : await stateOps.withScale(scale, ctx, call);
  if (r.image) {
    result.set(op.out, { shape: [1, r.image.height, r.image.width, 3], data: r.image.float });
  } else {
    result.set(op.out, { shape: [...r.latentShape], data: r.latents });
  }
  result.set(`${op.out}.timesteps`, { shape: [r.timesteps.length], data: r.timesteps });
  r.promptIds.forEach((ids, i) => {
    const suffix = i === 0 ? '' : `_${i + 1}`;
    result.set(`${op.out}.prompt_input_ids${suffix}`, idsTensor(ids));
    result.set(`${op.out}.negative_prompt_input_ids${suffix}`, idsTensor(r.negativeIds[i]!));
  });
  return result;
}

function latentShapeOf(model: LoadedModel, op: PipelineCallOp): number[] {
  const f = model.vaeScaleFactor;
  return [1, model.unetConfig.inChannels, op.height / f, op.width / f];
}

/**
 * Runs the case and returns its outputs by name (without the `outputs.` prefix): exactly the keys
 * of the case's `outputs`. An output the case lists that no op produced is an error.
 */
export async function runCase(caseJson: unknown, io: RunCaseIo): Promise<CaseOutputs> {
  const c: CaseJson = parseCaseJson(
    caseJson,
    typeof caseJson === 'object' ? `case ${(caseJson as { case?: string }).case}` : 'case',
  );
  const stateOps = io.stateOps ?? baseStateOps;
  const produced: CaseOutputs = new Map();
  let loaded: Promise<LoadedModel> | undefined;
  const owned = !io.model;
  const model = () => {
    loaded ??= io.model
      ? io.model(c.model)
      : loadModel(subSource(io.root, c.model), io.session ? { session: io.session } : {});
    return loaded;
  };
  const ctx: CaseStateContext = {
    model,
    root: io.root,
    emit: (name, t) => produced.set(name, t),
    wants: (name) => Object.hasOwn(c.outputs, name),
  };
  const store = (entries: Map<string, CaseTensor>) => {
    for (const [k, v] of entries) produced.set(k, v);
  };
  try {
    for (const op of c.ops) {
      if (isStateOp(op)) {
        await stateOps.apply(op, ctx);
        continue;
      }
      const m = await model();
      switch (op.op) {
        case 'unet_forward': {
          const o = op as UnetForwardOp;
          const scale = o.cross_attention_kwargs?.scale;
          const run = () => unetForward(m, io, o);
          produced.set(o.out, scale === undefined ? await run() : await stateOps.withScale(scale, ctx, run));
          break;
        }
        case 'text_encoder_forward':
          store(await textEncoderForward(m, io, op as TextEncoderForwardOp));
          break;
        case 'vae_decode': {
          const o = op as VaeDecodeOp;
          const z = input(io, o.latents);
          const sample = await vaeDecode(m.vae, z.data as Float32Array, z.dims);
          produced.set(o.out, { shape: [...sample.dims], data: sample.data });
          break;
        }
        case 'get_weight': {
          const o = op as GetWeightOp;
          produced.set(o.out, await getWeight(m, o, stateOps, ctx));
          break;
        }
        case 'pipeline_call':
          store(await pipelineCall(m, io, op as PipelineCallOp, stateOps, ctx));
          break;
      }
    }
  } finally {
    if (owned && loaded) await (await loaded.catch(() => undefined))?.release();
  }
  const outputs: CaseOutputs = new Map();
  const missing: string[] = [];
  for (const name of Object.keys(c.outputs)) {
    const t = produced.get(name);
    if (t) outputs.set(name, t);
    else missing.push(name);
  }
  if (missing.length > 0) {
    throw new LorafuseError(
      'internal',
      `case ${c.case}: no op produced ${missing.length} listed output(s), e.g. '${missing.slice(0, 3).join("', '")}'.`,
      { case: c.case, missing },
    );
  }
  return outputs;
}
