/**
 * The CLIP tokenizer against the token ids Diffusers' pipelines produced (stored as float32 in the
 * pipeline cases) for tiny-sd15 and tiny-sdxl (both tokenizers), plus normalisation, truncation
 * and the added-token quirk of SDXL's tokenizer_2. Exact equality throughout: ids are integers.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensors } from '../../src/core/io/safetensors.ts';
import type { ClipTokenizer } from '../../src/core/pipeline/tokenizer.ts';
import { createClipTokenizer } from '../../src/core/pipeline/tokenizer.ts';
import { LorafuseError } from '../../src/errors.ts';

const FIX = join(import.meta.dirname, '../fixtures');

function loadTokenizer(model: string, folder: string): ClipTokenizer {
  const dir = join(FIX, 'models', model, folder);
  const read = (f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8') : undefined);
  return createClipTokenizer({
    name: folder,
    tokenizerJson: read('tokenizer.json'),
    vocab: read('vocab.json'),
    merges: read('merges.txt'),
    tokenizerConfig: read('tokenizer_config.json'),
    specialTokensMap: read('special_tokens_map.json'),
  });
}

function caseIds(name: string): { prompt: string; negative: string; ids: Record<string, number[]> } {
  const meta = JSON.parse(readFileSync(join(FIX, 'cases', `${name}.json`), 'utf8'));
  const call = meta.ops.find((o: { op: string }) => o.op === 'pipeline_call');
  const st = readSafetensors(new Uint8Array(readFileSync(join(FIX, 'cases', `${name}.safetensors`))), name);
  const ids: Record<string, number[]> = {};
  for (const n of st.names()) {
    if (n.includes('input_ids')) ids[n.replace('outputs.out.', '')] = Array.from(st.float32(n));
  }
  // A None negative prompt is encoded as "" by the pipelines.
  return { prompt: call.prompt, negative: call.negative_prompt ?? '', ids };
}

const sd15 = loadTokenizer('tiny-sd15', 'tokenizer');
const xl1 = loadTokenizer('tiny-sdxl', 'tokenizer');
const xl2 = loadTokenizer('tiny-sdxl', 'tokenizer_2');
const vocab = JSON.parse(readFileSync(join(FIX, 'models/tiny-sd15/tokenizer/vocab.json'), 'utf8')) as Record<
  string,
  number
>;

describe('token ids of the Diffusers pipeline cases', () => {
  it.each([
    'tiny-sd15_pipe_callback_adapter_schedule',
    'tiny-sd15_pipe_euler_g1_latent_base',
    'tiny-sd15_pipe_ddim_g7.5_np_base',
  ])('%s (tokenizer)', (name) => {
    const c = caseIds(name);
    expect(sd15.encode(c.prompt).ids).toEqual(c.ids.prompt_input_ids);
    expect(sd15.encode(c.negative).ids).toEqual(c.ids.negative_prompt_input_ids);
  });

  it.each(['tiny-sdxl_pipe_euler_g5_latent_base', 'tiny-sdxl_pipe_ddim_g1_latent_diffusers_scale0.5'])(
    '%s (tokenizer and tokenizer_2)',
    (name) => {
      const c = caseIds(name);
      expect(xl1.encode(c.prompt).ids).toEqual(c.ids.prompt_input_ids);
      expect(xl1.encode(c.negative).ids).toEqual(c.ids.negative_prompt_input_ids);
      expect(xl2.encode(c.prompt).ids).toEqual(c.ids.prompt_input_ids_2);
    },
  );

  it('pads with the pad token of each tokenizer_config: <|endoftext|> for tokenizer, ! for tokenizer_2', () => {
    expect([sd15.padId, xl2.padId]).toEqual([vocab['<|endoftext|>'], vocab['!']]);
    // The empty prompt: bos, eos, then padding (SDXL's pipeline zeroes these embeddings, but the ids are defined).
    expect(xl2.encode('').ids).toEqual([
      vocab['<|startoftext|>'],
      vocab['<|endoftext|>'],
      ...Array(75).fill(vocab['!']),
    ]);
    expect(sd15.encode('').ids).toEqual([
      vocab['<|startoftext|>'],
      ...Array(76).fill(vocab['<|endoftext|>']),
    ]);
  });
});

describe('CLIP text handling', () => {
  const c = caseIds('tiny-sd15_pipe_euler_g1_latent_base');
  const reference = c.ids.prompt_input_ids!;
  const words = reference.slice(1, reference.indexOf(sd15.eosId));

  it('lowercases and collapses whitespace', () => {
    const shouted = `  ${c.prompt.toUpperCase().replaceAll(' ', ' \t\n ')}  `;
    expect(sd15.encode(shouted).ids).toEqual(reference);
    expect(sd15.tokenize(c.prompt)).toEqual(words);
  });

  it('truncates to 75 text tokens and keeps eos at position 76', () => {
    const repeats = Math.ceil(100 / words.length);
    const long = Array(repeats).fill(c.prompt).join(' ');
    const allTokens = Array(repeats).fill(words).flat();
    const { ids, truncatedIds } = sd15.encode(long);
    expect(ids).toHaveLength(77);
    expect(ids[0]).toBe(sd15.bosId);
    expect(ids[76]).toBe(sd15.eosId);
    expect(ids.slice(1, 76)).toEqual(allTokens.slice(0, 75));
    expect(truncatedIds).toEqual(allTokens.slice(75));
    expect(sd15.decode(truncatedIds).length).toBeGreaterThan(0);
  });

  it('splits punctuation from words; tokenizer_2 has ! as an added token (id 0), tokenizer as a word "!</w>"', () => {
    const mars = sd15.tokenize('mars');
    expect(sd15.tokenize('mars!')).toEqual([...mars, vocab['!</w>']]);
    expect(xl2.tokenize('mars!')).toEqual([...mars, vocab['!']]);
  });

  it('names the missing file', () => {
    const e = (() => {
      try {
        createClipTokenizer({ name: 'tokenizer_2', vocab: '{}' });
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(LorafuseError);
    expect((e as LorafuseError).message).toMatch(/tokenizer_2.*merges\.txt/);
  });
});
