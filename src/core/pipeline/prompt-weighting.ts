/**
 * AUTOMATIC1111's prompt emphasis and long prompts, both optional (off, a prompt is encoded as
 * Diffusers does: one 77-token row, cut at 75 tokens).
 *
 * - Emphasis (`parsePromptAttention`, A1111's `prompt_parser.parse_prompt_attention`):
 *   `(text)` multiplies the attention to `text` by 1.1, `[text]` divides it by 1.1, `(text:1.3)`
 *   multiplies it by 1.3; brackets nest and multiply; an unclosed bracket runs to the end;
 *   `\(`, `\)`, `\[`, `\]` and `\\` are the literal characters. Each token gets its text's
 *   weight; after the text encoder, each token's hidden state is multiplied by its weight and the
 *   whole chunk is rescaled to its original mean (`applyEmphasis`, A1111's "Original" emphasis).
 * - Long prompts (`promptChunks`): the tokens are cut into chunks of 75 (A1111 moves the words
 *   after a comma in the last 20 tokens of a full chunk to the next one), each chunk is wrapped in
 *   BOS ... EOS and padded to 77 and encoded on its own, and the hidden states are concatenated
 *   along the sequence axis (A1111's `FrozenCLIPEmbedderWithCustomWords`).
 * A1111's `BREAK` keyword is not supported (it stays text).
 */
import { LorafuseError } from '../../errors.ts';
import type { ClipTokenizer } from './tokenizer.ts';

export interface PromptOptions {
  /** A1111 emphasis: `(word)`, `[word]`, `(word:1.2)`. Default false (brackets are text). */
  emphasis?: boolean;
  /** Prompts past 75 tokens are encoded in 75-token chunks instead of cut. Default false. */
  longPrompts?: boolean;
}

export interface WeightedText {
  text: string;
  weight: number;
}

/** One text-encoder input row: `ids` (bos, up to 75 tokens, eos, pad) and a weight per id. */
export interface PromptChunk {
  ids: number[];
  weights: number[];
}

export interface PromptTokens {
  chunks: PromptChunk[];
  /** Token ids cut off (long prompts off and more than 75 tokens), else empty. */
  truncatedIds: number[];
}

const ROUND_MULTIPLIER = 1.1;
const SQUARE_MULTIPLIER = 1 / 1.1;
/** A1111's `comma_padding_backtrack` default: how far back a full chunk looks for a comma. */
const COMMA_BACKTRACK = 20;

/** A1111's `re_attention`, alternatives in its order; group 1 is a `:weight)` number. */
const ATTENTION = /\\\(|\\\)|\\\[|\\\]|\\\\|\\|\(|\[|:\s*([+-]?[.\d]+)\s*\)|\)|\]|[^\\()[\]:]+|:/g;

/**
 * A1111's `parse_prompt_attention`: the text in runs of equal weight, in order. The weight
 * arithmetic follows A1111's order of multiplication, so the numbers are the same doubles.
 */
export function parsePromptAttention(text: string): WeightedText[] {
  const res: WeightedText[] = [];
  const round: number[] = [];
  const square: number[] = [];
  const multiplyRange = (start: number, multiplier: number) => {
    for (let p = start; p < res.length; p++) res[p]!.weight *= multiplier;
  };

  for (const m of text.matchAll(ATTENTION)) {
    const token = m[0];
    const weight = m[1];
    if (token.startsWith('\\')) res.push({ text: token.slice(1), weight: 1 });
    else if (token === '(') round.push(res.length);
    else if (token === '[') square.push(res.length);
    else if (weight !== undefined && round.length > 0) multiplyRange(round.pop()!, parseWeight(weight, text));
    else if (token === ')' && round.length > 0) multiplyRange(round.pop()!, ROUND_MULTIPLIER);
    else if (token === ']' && square.length > 0) multiplyRange(square.pop()!, SQUARE_MULTIPLIER);
    else res.push({ text: token, weight: 1 });
  }
  for (const p of round) multiplyRange(p, ROUND_MULTIPLIER);
  for (const p of square) multiplyRange(p, SQUARE_MULTIPLIER);
  if (res.length === 0) return [{ text: '', weight: 1 }];

  const merged: WeightedText[] = [res[0]!];
  for (const r of res.slice(1)) {
    const last = merged[merged.length - 1]!;
    if (last.weight === r.weight) last.text += r.text;
    else merged.push(r);
  }
  return merged;
}

/** Python's `float()` on A1111's `[+-]?[.\d]+`: `1.2.3` or `.` is not a number. */
function parseWeight(text: string, prompt: string): number {
  const w = /^[+-]?(\d+\.?\d*|\.\d+)$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isFinite(w)) {
    throw new LorafuseError(
      'invalid-argument',
      `Prompt emphasis '(...:${text})' is not a number; write a weight like (word:1.2), or \\( for a literal bracket.`,
      { weight: text, prompt },
    );
  }
  return w;
}

/** `tokens` in A1111's 75-token chunks, commas in the last 20 tokens of a full chunk moving the rest on. */
function splitChunks(
  tokens: readonly number[],
  weights: readonly number[],
  size: number,
  comma: number | undefined,
): { tokens: number[]; weights: number[] }[] {
  const chunks: { tokens: number[]; weights: number[] }[] = [];
  let chunk = { tokens: [] as number[], weights: [] as number[] };
  let lastComma = -1;
  const next = () => {
    chunks.push(chunk);
    chunk = { tokens: [], weights: [] };
    lastComma = -1;
  };
  tokens.forEach((token, i) => {
    if (token === comma) {
      lastComma = chunk.tokens.length;
    } else if (chunk.tokens.length === size && lastComma !== -1 && size - lastComma <= COMMA_BACKTRACK) {
      const at = lastComma + 1;
      const moved = { tokens: chunk.tokens.slice(at), weights: chunk.weights.slice(at) };
      chunk = { tokens: chunk.tokens.slice(0, at), weights: chunk.weights.slice(0, at) };
      next();
      chunk = moved;
    }
    if (chunk.tokens.length === size) next();
    chunk.tokens.push(token);
    chunk.weights.push(weights[i]!);
  });
  if (chunk.tokens.length > 0 || chunks.length === 0) next();
  return chunks;
}

/** bos, the chunk's tokens, eos, then pad up to the tokenizer's max length; weight 1 off the text. */
function wrap(tok: ClipTokenizer, tokens: readonly number[], weights: readonly number[]): PromptChunk {
  const ids = [tok.bosId, ...tokens, tok.eosId];
  const w = [1, ...weights, 1];
  while (ids.length < tok.maxLength) {
    ids.push(tok.padId);
    w.push(1);
  }
  return { ids, weights: w };
}

/** The empty prompt's row: what a shorter prompt's chunk list is padded with. */
export function emptyChunk(tok: ClipTokenizer): PromptChunk {
  return wrap(tok, [], []);
}

/**
 * The text encoder input rows of `text` with a weight per id. With both options off this is one
 * row equal to `tok.encode(text).ids`, all weights 1.
 */
export function promptChunks(tok: ClipTokenizer, text: string, opts: PromptOptions = {}): PromptTokens {
  const parts = opts.emphasis ? parsePromptAttention(text) : [{ text, weight: 1 }];
  const tokens: number[] = [];
  const weights: number[] = [];
  for (const p of parts) {
    for (const t of tok.tokenize(p.text)) {
      tokens.push(t);
      weights.push(p.weight);
    }
  }
  const size = tok.maxLength - 2;
  if (!opts.longPrompts) {
    return {
      chunks: [wrap(tok, tokens.slice(0, size), weights.slice(0, size))],
      truncatedIds: tokens.slice(size),
    };
  }
  const comma = tok.tokenize(',');
  const chunks = splitChunks(tokens, weights, size, comma.length === 1 ? comma[0] : undefined);
  return { chunks: chunks.map((c) => wrap(tok, c.tokens, c.weights)), truncatedIds: [] };
}

/**
 * A1111's "Original" emphasis on one chunk's hidden states [sequence, width]: each token's row
 * times its weight, then everything times (mean before / mean after). All weights 1 leaves the
 * states as they are (which is what the formula gives).
 */
export function applyEmphasis(hidden: Float32Array, weights: readonly number[], width: number): Float32Array {
  if (weights.length * width !== hidden.length) {
    throw new LorafuseError(
      'internal',
      `Emphasis: ${weights.length} weights for hidden states of ${hidden.length / width} tokens.`,
      { weights: weights.length, tokens: hidden.length / width },
    );
  }
  if (weights.every((w) => w === 1)) return hidden;
  let before = 0;
  let after = 0;
  const out = new Float32Array(hidden.length);
  for (let t = 0; t < weights.length; t++) {
    const w = weights[t]!;
    for (let i = t * width; i < (t + 1) * width; i++) {
      const v = hidden[i]!;
      before += v;
      out[i] = v * w;
      after += out[i]!;
    }
  }
  const rescale = before / after;
  for (let i = 0; i < out.length; i++) out[i] = out[i]! * rescale;
  return out;
}
