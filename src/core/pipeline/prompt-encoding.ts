/**
 * Prompt conditioning as Diffusers' `encode_prompt` builds it.
 * - SD1.x/SD2.x (`StableDiffusionPipeline`, no clip_skip): the text encoder's last hidden state.
 * - SDXL (`StableDiffusionXLPipeline`): the penultimate hidden states of both encoders
 *   concatenated on the feature axis, the pooled `text_embeds` of `text_encoder_2`, and `time_ids`
 *   (original size, crop top-left (0, 0), target size). With guidance and no negative prompt,
 *   `force_zeros_for_empty_prompt` makes the negative embeddings (and pooled) zeros.
 * With guidance the batch is [negative, positive] (Diffusers' `torch.cat([neg, pos])`).
 * Optional, off by default: A1111 emphasis and long prompts (`emphasis`, `longPrompts`; see
 * prompt-weighting.ts).
 */
import * as ort from 'onnxruntime-web';
import { downloadOutput } from '../graph/runner/session.ts';
import type { LoadedModel, LoadedTextEncoder } from './model.ts';
import {
  applyEmphasis,
  emptyChunk,
  type PromptChunk,
  type PromptOptions,
  type PromptTokens,
  promptChunks,
} from './prompt-weighting.ts';

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

export interface EncodePromptRequest extends PromptOptions {
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
  return combineOutputs(model, outs);
}

/** The pipeline's conditioning from each encoder's outputs on one row. */
function combineOutputs(model: LoadedModel, outs: EncoderOutputs[]): OneText {
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

/**
 * Emphasis and long prompts (prompt-weighting.ts): per encoder, each chunk row is encoded, its
 * hidden states weighted, and the chunks concatenated along the sequence; SDXL's pooled output
 * is the first chunk's. The prompt and the negative prompt get the same number of chunks: the
 * shorter is padded with the empty prompt's row (A1111's `pad_cond_uncond`; the UNet runs both in
 * one batch). With guidance off only the prompt's chunks count.
 */
async function encodeWeightedTexts(
  model: LoadedModel,
  req: EncodePromptRequest,
  negativeText: string,
  encodeNegative: boolean,
): Promise<EncodedTexts> {
  const tokenizers = model.textEncoders.map((e) => e.tokenizer);
  const pos = tokenizers.map((t) => promptChunks(t, req.prompt, req));
  const neg = tokenizers.map((t) => promptChunks(t, negativeText, req));
  const count = Math.max(...[...pos, ...(encodeNegative ? neg : [])].map((p) => p.chunks.length));
  const rows = (p: PromptTokens[]) =>
    p.map((x, i) => [
      ...x.chunks,
      ...Array.from({ length: count - x.chunks.length }, () => emptyChunk(tokenizers[i]!)),
    ]);
  const encodeRows = async (perEncoder: PromptChunk[][]): Promise<OneText> => {
    const parts: OneText[] = [];
    for (let c = 0; c < count; c++) {
      const outs: EncoderOutputs[] = [];
      for (const [i, enc] of model.textEncoders.entries()) {
        const row = perEncoder[i]![c]!;
        const o = await runTextEncoder(enc, row.ids);
        outs.push({
          ...o,
          lastHiddenState: applyEmphasis(o.lastHiddenState, row.weights, o.hidden),
          penultimateHiddenState: applyEmphasis(o.penultimateHiddenState, row.weights, o.hidden),
        });
      }
      parts.push(combineOutputs(model, outs));
    }
    const first = parts[0]!;
    return {
      ...first,
      embeds: stackRows(parts.map((p) => p.embeds)),
      sequence: parts.reduce((s, p) => s + p.sequence, 0),
    };
  };
  const posRows = rows(pos);
  const negRows = rows(neg).map((r) => r.slice(0, count));
  return {
    positive: await encodeRows(posRows),
    ...(encodeNegative ? { negative: await encodeRows(negRows) } : {}),
    promptIds: posRows.map((r) => r.flatMap((c) => c.ids)),
    negativeIds: negRows.map((r) => r.flatMap((c) => c.ids)),
    truncated: tokenizers.map((t, i) => t.decode(pos[i]!.truncatedIds)),
  };
}

interface EncodedTexts {
  positive: OneText;
  negative?: OneText;
  promptIds: number[][];
  negativeIds: number[][];
  truncated: string[];
}

/** Diffusers' encoding: one row per encoder, cut at the tokenizer's max length. */
async function encodeTexts(
  model: LoadedModel,
  prompt: string,
  negativeText: string,
  encodeNegative: boolean,
): Promise<EncodedTexts> {
  const encoded = model.textEncoders.map((e) => e.tokenizer.encode(prompt));
  const promptIds = encoded.map((e) => e.ids);
  const negativeIds = model.textEncoders.map((e) => e.tokenizer.encode(negativeText).ids);
  const truncated = model.textEncoders.map((e, i) => e.tokenizer.decode(encoded[i]!.truncatedIds));
  return {
    positive: await encodeText(model, promptIds),
    ...(encodeNegative ? { negative: await encodeText(model, negativeIds) } : {}),
    promptIds,
    negativeIds,
    truncated,
  };
}

export async function encodePrompt(
  model: LoadedModel,
  req: EncodePromptRequest,
): Promise<PromptConditioning> {
  const negativeText = req.negativePrompt ?? '';
  const zeroNegative = model.forceZerosForEmptyPrompt && negativeText === '';
  const encodeNegative = req.guided && !zeroNegative;
  const { positive, promptIds, negativeIds, truncated, ...encoded } =
    req.emphasis || req.longPrompts
      ? await encodeWeightedTexts(model, req, negativeText, encodeNegative)
      : await encodeTexts(model, req.prompt, negativeText, encodeNegative);
  let negative = encoded.negative;
  if (req.guided && zeroNegative) {
    negative = {
      ...positive,
      embeds: new Float32Array(positive.embeds.length),
      ...(positive.pooled ? { pooled: new Float32Array(positive.pooled.length) } : {}),
    };
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
