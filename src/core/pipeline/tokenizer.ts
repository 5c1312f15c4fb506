/**
 * The CLIP tokenizer of Stable Diffusion repos (`tokenizer/`, `tokenizer_2/`), run by
 * `@huggingface/tokenizers`. From `tokenizer.json` when the repo has one; otherwise from
 * `vocab.json` + `merges.txt` through the same tokenizer structure transformers' `CLIPConverter`
 * builds (byte-level BPE with a `</w>` end-of-word suffix, NFC + whitespace-collapse + lowercase
 * normalizer, CLIP's split regex, `<|startoftext|>` ... `<|endoftext|>` around the text), with the
 * added tokens of `tokenizer_config.json` (SDXL's `tokenizer_2` has `!` as one: it is its pad).
 *
 * `encode` is what Diffusers' pipelines feed the text encoder:
 * `tokenizer(prompt, padding="max_length", max_length=77, truncation=True)`.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { LorafuseError } from '../../errors.ts';

export interface ClipTokenizerFiles {
  /** Folder name for messages, e.g. `tokenizer_2`. */
  name?: string;
  /** `tokenizer.json` (text or parsed); when present, vocab and merges are not needed. */
  tokenizerJson?: string | object;
  /** `vocab.json` (text or parsed). */
  vocab?: string | Record<string, number>;
  /** `merges.txt` text. */
  merges?: string;
  /** `tokenizer_config.json` (text or parsed). */
  tokenizerConfig?: string | object;
  /** `special_tokens_map.json` (text or parsed). */
  specialTokensMap?: string | object;
}

export interface EncodedPrompt {
  /** `maxLength` ids: bos, the text's tokens, eos, then the pad token. */
  ids: number[];
  /** Token ids cut off to fit (Diffusers logs them as "the following part of your input was truncated"). */
  truncatedIds: number[];
}

export interface ClipTokenizer {
  readonly maxLength: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  /** The text's token ids: no bos/eos, no padding, no truncation. */
  tokenize(text: string): number[];
  /** Padded/truncated input ids exactly as Diffusers' pipelines build them. */
  encode(text: string): EncodedPrompt;
  /** Text of token ids (special tokens dropped), e.g. to show what was truncated. */
  decode(ids: readonly number[]): string;
}

/** The files a tokenizer folder may hold, in the order they are tried. */
export const CLIP_TOKENIZER_FILES = [
  'tokenizer.json',
  'vocab.json',
  'merges.txt',
  'tokenizer_config.json',
  'special_tokens_map.json',
] as const;

/** The pre-tokenizer regex of CLIP (`CLIPTokenizer.pat` without the special tokens, which match first). */
const CLIP_SPLIT = "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";
/** CLIPTokenizer keeps the first 49152 - 256 - 2 merges of merges.txt. */
const CLIP_MAX_MERGES = 49152 - 256 - 2;
const DEFAULT_MAX_LENGTH = 77;
const DEFAULTS = { bos: '<|startoftext|>', eos: '<|endoftext|>', unk: '<|endoftext|>', pad: '<|endoftext|>' };

type Json = Record<string, unknown>;

function bad(name: string, file: string, what: string): LorafuseError {
  return new LorafuseError('config-invalid', `${name}/${file}: ${what}`, { file: `${name}/${file}` });
}

function parseJson(value: string | object | undefined, name: string, file: string): Json | undefined {
  if (value === undefined) return undefined;
  let parsed: unknown = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch (e) {
      throw bad(name, file, `not valid JSON (${(e as Error).message}).`);
    }
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw bad(name, file, 'expected a JSON object.');
  return parsed as Json;
}

/** A special token as tokenizer_config writes it: a string, or an AddedToken object with `content`. */
function tokenContent(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && typeof (v as Json).content === 'string')
    return (v as Json).content as string;
  return undefined;
}

interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

function readMerges(text: string, name: string): string[] {
  const lines = text.split(/\r?\n/);
  const body = lines[0]?.startsWith('#version') ? lines.slice(1) : lines;
  const merges = body.filter((l) => l.trim() !== '').slice(0, CLIP_MAX_MERGES);
  merges.forEach((m, i) => {
    if (m.split(' ').length !== 2)
      throw bad(name, 'merges.txt', `line ${i + 2} '${m}' is not two space-separated symbols.`);
  });
  return merges;
}

function readVocab(value: string | Record<string, number>, name: string): Record<string, number> {
  const vocab = parseJson(value, name, 'vocab.json')!;
  for (const [token, id] of Object.entries(vocab)) {
    if (!Number.isInteger(id)) throw bad(name, 'vocab.json', `the id of '${token}' is not an integer.`);
  }
  return vocab as Record<string, number>;
}

/** The tokenizer.json transformers' CLIPConverter would write for these files. */
function clipTokenizerJson(
  vocab: Record<string, number>,
  merges: string[],
  added: AddedTokenJson[],
  special: { bos: string; eos: string; unk: string },
  ids: { bos: number; eos: number },
): Json {
  return {
    added_tokens: added,
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'NFC' },
        { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' },
        { type: 'Lowercase' },
      ],
    },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: CLIP_SPLIT }, behavior: 'Removed', invert: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      ],
    },
    post_processor: {
      type: 'RobertaProcessing',
      sep: [special.eos, ids.eos],
      cls: [special.bos, ids.bos],
      trim_offsets: false,
      add_prefix_space: false,
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: special.unk,
      continuing_subword_prefix: '',
      end_of_word_suffix: '</w>',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}

export function createClipTokenizer(files: ClipTokenizerFiles): ClipTokenizer {
  const name = files.name ?? 'tokenizer';
  const config = parseJson(files.tokenizerConfig, name, 'tokenizer_config.json') ?? {};
  const map = parseJson(files.specialTokensMap, name, 'special_tokens_map.json') ?? {};
  const special = {
    bos: tokenContent(config.bos_token) ?? tokenContent(map.bos_token) ?? DEFAULTS.bos,
    eos: tokenContent(config.eos_token) ?? tokenContent(map.eos_token) ?? DEFAULTS.eos,
    unk: tokenContent(config.unk_token) ?? tokenContent(map.unk_token) ?? DEFAULTS.unk,
    pad: tokenContent(config.pad_token) ?? tokenContent(map.pad_token) ?? DEFAULTS.pad,
  };
  const maxLen = config.model_max_length;
  const maxLength =
    Number.isInteger(maxLen) && (maxLen as number) > 2 && (maxLen as number) <= 1e6
      ? (maxLen as number)
      : DEFAULT_MAX_LENGTH;

  let tokenizerJson = parseJson(files.tokenizerJson, name, 'tokenizer.json');
  let vocab: Record<string, number>;
  if (tokenizerJson) {
    vocab = ((tokenizerJson.model as Json | undefined)?.vocab ?? {}) as Record<string, number>;
  } else {
    if (files.vocab === undefined || files.merges === undefined) {
      throw new LorafuseError(
        'config-invalid',
        `${name}: a CLIP tokenizer needs tokenizer.json, or vocab.json and merges.txt; ${files.vocab === undefined ? 'vocab.json' : 'merges.txt'} is missing.`,
        { folder: name },
      );
    }
    vocab = readVocab(files.vocab, name);
  }

  // Added tokens: tokenizer_config's added_tokens_decoder, plus the special tokens themselves.
  const addedById = new Map<number, AddedTokenJson>();
  const declared = (config.added_tokens_decoder ?? {}) as Record<string, Json>;
  for (const [id, t] of Object.entries(declared)) {
    addedById.set(Number(id), {
      id: Number(id),
      content: String(t.content),
      single_word: t.single_word === true,
      lstrip: t.lstrip === true,
      rstrip: t.rstrip === true,
      normalized: t.normalized !== false,
      special: t.special === true,
    });
  }
  const idOf = (token: string, role: string): number => {
    for (const t of addedById.values()) if (t.content === token) return t.id;
    const id = vocab[token];
    if (id === undefined) {
      throw bad(name, 'tokenizer_config.json', `the ${role} token '${token}' is not in the vocabulary.`);
    }
    return id;
  };
  const ids = { bos: idOf(special.bos, 'bos'), eos: idOf(special.eos, 'eos'), pad: idOf(special.pad, 'pad') };
  idOf(special.unk, 'unk');
  for (const [content, id] of [special.bos, special.eos, special.unk, special.pad].map(
    (c) => [c, idOf(c, 'special')] as const,
  )) {
    if (!addedById.has(id)) {
      addedById.set(id, {
        id,
        content,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: true,
      });
    }
  }

  if (!tokenizerJson) {
    const merges = readMerges(files.merges!, name);
    tokenizerJson = clipTokenizerJson(
      vocab,
      merges,
      [...addedById.values()].sort((a, b) => a.id - b.id),
      special,
      ids,
    );
  }
  const tokenizer = new Tokenizer(tokenizerJson, config);

  const tokenize = (text: string): number[] => tokenizer.encode(text, { add_special_tokens: false }).ids;
  return {
    maxLength,
    bosId: ids.bos,
    eosId: ids.eos,
    padId: ids.pad,
    tokenize,
    encode(text: string): EncodedPrompt {
      const tokens = tokenize(text);
      const room = maxLength - 2;
      const kept = tokens.slice(0, room);
      const out = [ids.bos, ...kept, ids.eos];
      while (out.length < maxLength) out.push(ids.pad);
      return { ids: out, truncatedIds: tokens.slice(room) };
    },
    decode(tokenIds: readonly number[]): string {
      return tokenIds.length === 0 ? '' : tokenizer.decode([...tokenIds], { skip_special_tokens: true });
    },
  };
}
