/**
 * Prompt conditioning as Diffusers' `encode_prompt` builds it.
 * - SD1.x/SD2.x (`StableDiffusionPipeline`, no clip_skip): the text encoder's last hidden state.
 * - SDXL (`StableDiffusionXLPipeline`): the penultimate hidden states of both encoders
 *   concatenated on the feature axis, the pooled `text_embeds` of `text_encoder_2`, and `time_ids`
 *   (original size, crop top-left (0, 0), target size). With guidance and no negative prompt,
 *   `force_zeros_for_empty_prompt` makes the negative embeddings (and pooled) zeros.
 * With guidance the batch is [negative, positive] (Diffusers' `torch.cat([neg, pos])`).
 */
import * as ort from 'onnxruntime-web';
import { downloadOutput } from '../graph/runner/session.ts';
import type { LoadedModel, LoadedTextEncoder } from './model.ts';

export interface EncoderOutputs {
  lastHiddenState: Float32Array;
  penultimateHiddenState: Float32Array;
  /** `pooler_output` (CLIPTextModel) or `text_embeds` (CLIPTextModelWithProjection). */
  pooled: Float32Array;
  /** [sequence, hidden]. */
  sequence: number;
  hidden: number;
}

export interface PromptConditioning {
  /** 1, or 2 with guidance (negative row first). */
  batch: number;
  /** [batch, sequence, dim]. */
  embeds: Float32Array;
  sequence: number;
  dim: number;
  /** SDXL: [batch, pooledDim] and [batch, 6]. */
  textEmbeds?: Float32Array;
  pooledDim?: number;
  timeIds?: Float32Array;
  /** Input ids per encoder, in encoder order; `negative` is what the negative text tokenizes to. */
  promptIds: number[][];
  negativeIds: number[][];
  /** Parts of the prompt cut off at the tokenizer's max length, decoded, per encoder (empty when none). */
  truncated: string[];
}

export interface EncodePromptRequest {
  prompt: string;
  /** Undefined or '' means none (SDXL then uses zero embeddings when `force_zeros_for_empty_prompt`). */
  negativePrompt?: string;
  guided: boolean;
  width: number;
  height: number;
}

/** Runs one text encoder on one row of input ids. */
export async function runTextEncoder(
  enc: LoadedTextEncoder,
  ids: readonly number[],
): Promise<EncoderOutputs> {
  const input = new ort.Tensor('int32', Int32Array.from(ids), [1, ids.length]);
  const out = await enc.session.run({ input_ids: input });
  const last = out.last_hidden_state!;
  const pooled = out[enc.config.withProjection ? 'text_embeds' : 'pooler_output']!;
  return {
    lastHiddenState: await downloadOutput(last),
    penultimateHiddenState: await downloadOutput(out.penultimate_hidden_state!),
    pooled: await downloadOutput(pooled),
    sequence: last.dims[1]!,
    hidden: last.dims[2]!,
  };
}

/** Concatenates [sequence, a] and [sequence, b] rows into [sequence, a + b]. */
function concatFeatures(parts: { data: Float32Array; width: number }[], sequence: number): Float32Array {
  const total = parts.reduce((s, p) => s + p.width, 0);
  const out = new Float32Array(sequence * total);
  for (let t = 0; t < sequence; t++) {
    let offset = t * total;
    for (const p of parts) {
      out.set(p.data.subarray(t * p.width, (t + 1) * p.width), offset);
      offset += p.width;
    }
  }
  return out;
}

function stackRows(rows: Float32Array[]): Float32Array {
  const out = new Float32Array(rows.reduce((s, r) => s + r.length, 0));
  let offset = 0;
  for (const r of rows) {
    out.set(r, offset);
    offset += r.length;
  }
  return out;
}

interface OneText {
  embeds: Float32Array;
  sequence: number;
  dim: number;
  pooled?: Float32Array;
}

async function encodeText(model: LoadedModel, ids: number[][]): Promise<OneText> {
  const outs: EncoderOutputs[] = [];
  for (const [i, enc] of model.textEncoders.entries()) outs.push(await runTextEncoder(enc, ids[i]!));
  const first = outs[0]!;
  if (model.family === 'sd') {
    return { embeds: first.lastHiddenState, sequence: first.sequence, dim: first.hidden };
  }
  const parts = outs.map((o) => ({ data: o.penultimateHiddenState, width: o.hidden }));
  return {
    embeds: concatFeatures(parts, first.sequence),
    sequence: first.sequence,
    dim: parts.reduce((s, p) => s + p.width, 0),
    pooled: outs[outs.length - 1]!.pooled,
  };
}

export async function encodePrompt(
  model: LoadedModel,
  req: EncodePromptRequest,
): Promise<PromptConditioning> {
  const negativeText = req.negativePrompt ?? '';
  const encoded = model.textEncoders.map((e) => e.tokenizer.encode(req.prompt));
  const promptIds = encoded.map((e) => e.ids);
  const negativeIds = model.textEncoders.map((e) => e.tokenizer.encode(negativeText).ids);
  const truncated = model.textEncoders.map((e, i) => e.tokenizer.decode(encoded[i]!.truncatedIds));

  const positive = await encodeText(model, promptIds);
  let negative: OneText | undefined;
  if (req.guided) {
    negative =
      model.forceZerosForEmptyPrompt && negativeText === ''
        ? {
            ...positive,
            embeds: new Float32Array(positive.embeds.length),
            ...(positive.pooled ? { pooled: new Float32Array(positive.pooled.length) } : {}),
          }
        : await encodeText(model, negativeIds);
  }
  const rows = negative ? [negative, positive] : [positive];
  const out: PromptConditioning = {
    batch: rows.length,
    embeds: stackRows(rows.map((r) => r.embeds)),
    sequence: positive.sequence,
    dim: positive.dim,
    promptIds,
    negativeIds,
    truncated,
  };
  if (model.family === 'sdxl') {
    const timeIds = [req.height, req.width, 0, 0, req.height, req.width];
    out.textEmbeds = stackRows(rows.map((r) => r.pooled!));
    out.pooledDim = positive.pooled!.length;
    out.timeIds = Float32Array.from(rows.flatMap(() => timeIds));
  }
  return out;
}
