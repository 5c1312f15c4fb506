/**
 * A1111 prompt emphasis and long-prompt chunking (prompt-weighting.ts).
 * - The parser against the examples in A1111's `parse_prompt_attention` docstring and its wiki
 *   ("Attention/emphasis"): the expected weights are the doubles Python prints for them.
 * - Chunking on a word tokenizer written here (one id per word, ',' its own token), so the
 *   expected chunks are counted by hand: 75 tokens per chunk, bos/eos around, padding to 77, and
 *   A1111's comma backtrack (a comma within the last 20 tokens of a full chunk starts the next).
 * - applyEmphasis: row t is w_t * c * h_t with one c that restores the mean (float64 reference).
 */
import { describe, expect, it } from 'vitest';
import {
  applyEmphasis,
  parsePromptAttention,
  promptChunks,
} from '../../src/core/pipeline/prompt-weighting.ts';
import type { ClipTokenizer } from '../../src/core/pipeline/tokenizer.ts';
import { isLorafuseError } from '../../src/errors.ts';

const pairs = (text: string) => parsePromptAttention(text).map((p) => [p.text, p.weight]);

describe('parsePromptAttention (A1111 docstring examples)', () => {
  it.each([
    ['normal text', [['normal text', 1.0]]],
    [
      'an (important) word',
      [
        ['an ', 1.0],
        ['important', 1.1],
        [' word', 1.0],
      ],
    ],
    ['(unbalanced', [['unbalanced', 1.1]]],
    ['\\(literal\\]', [['(literal]', 1.0]]],
    ['(unnecessary)(parens)', [['unnecessaryparens', 1.1]]],
    [
      'a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).',
      [
        ['a ', 1.0],
        ['house', 1.5730000000000004],
        [' ', 1.1],
        ['on', 1.0],
        [' a ', 1.1],
        ['hill', 0.55],
        [', sun, ', 1.1],
        ['sky', 1.4641000000000006],
        ['.', 1.1],
      ],
    ],
  ])('%s', (text, want) => {
    expect(pairs(text)).toEqual(want);
  });

  it('the wiki: ((word)) is 1.21, [word] is 1/1.1, (word:0.25) is 0.25, [[word]] is 1/1.1^2', () => {
    expect(pairs('((word))')).toEqual([['word', 1.1 * 1.1]]);
    expect(pairs('[word]')).toEqual([['word', 1 / 1.1]]);
    expect(pairs('a (word:0.25)')).toEqual([
      ['a ', 1],
      ['word', 0.25],
    ]);
    expect(pairs('[[word]]')).toEqual([['word', (1 / 1.1) * (1 / 1.1)]]);
  });

  it('a colon outside brackets, a lone bracket and an empty prompt are text', () => {
    expect(pairs('ratio 16:9')).toEqual([['ratio 16:9', 1]]);
    expect(pairs('a ) b ] c')).toEqual([['a ) b ] c', 1]]);
    expect(pairs('')).toEqual([['', 1]]);
    expect(pairs('\\\\ back')).toEqual([['\\ back', 1]]);
  });

  it('a weight that is not a number is invalid-argument naming it', () => {
    const err = (() => {
      try {
        parsePromptAttention('(word:1.2.3)');
      } catch (e) {
        return e;
      }
    })();
    expect(isLorafuseError(err) && err.code).toBe('invalid-argument');
    expect(String((err as Error).message)).toContain('1.2.3');
  });
});

/** One id per space-separated word (from 10), ',' is id 3; bos 1, eos 2, pad 0; max length 77. */
function wordTokenizer(): ClipTokenizer {
  const vocab = new Map<string, number>();
  const tokenize = (text: string) =>
    text
      .replace(/,/g, ' , ')
      .split(/\s+/)
      .filter((w) => w !== '')
      .map((w) => {
        if (w === ',') return 3;
        if (!vocab.has(w)) vocab.set(w, 10 + vocab.size);
        return vocab.get(w)!;
      });
  return {
    maxLength: 77,
    bosId: 1,
    eosId: 2,
    padId: 0,
    tokenize,
    encode: () => {
      throw new Error('not used');
    },
    decode: () => '',
  };
}

const words = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `w${from + i}`).join(' ');

describe('promptChunks', () => {
  it('off: one row of bos, up to 75 tokens, eos, pad; the rest is truncated', () => {
    const tok = wordTokenizer();
    const { chunks, truncatedIds } = promptChunks(tok, words(80));
    expect(chunks).toHaveLength(1);
    expect(chunks[0]!.ids).toEqual([1, ...Array.from({ length: 75 }, (_, i) => 10 + i), 2]);
    expect(truncatedIds).toEqual([85, 86, 87, 88, 89]);
    expect(chunks[0]!.weights).toEqual(new Array(77).fill(1));
  });

  it('long prompts: 80 tokens are two rows of 77, the second padded after its eos', () => {
    const tok = wordTokenizer();
    const { chunks, truncatedIds } = promptChunks(tok, words(80), { longPrompts: true });
    expect(truncatedIds).toEqual([]);
    expect(chunks.map((c) => c.ids.length)).toEqual([77, 77]);
    expect(chunks[0]!.ids).toEqual([1, ...Array.from({ length: 75 }, (_, i) => 10 + i), 2]);
    expect(chunks[1]!.ids).toEqual([1, 85, 86, 87, 88, 89, 2, ...new Array(70).fill(0)]);
  });

  it('long prompts: 75 tokens or fewer are one row, the same as off', () => {
    for (const n of [0, 1, 74, 75]) {
      const text = words(n);
      expect(promptChunks(wordTokenizer(), text, { longPrompts: true })).toEqual(
        promptChunks(wordTokenizer(), text),
      );
    }
  });

  it("A1111's comma backtrack: a comma in the last 20 tokens of a full chunk moves the words after it", () => {
    // 70 words, a comma (token 71), then 10 words: the chunk fills at 75 with the comma at index 70,
    // 75 - 70 <= 20, so the 4 words after the comma move to the second chunk with the rest.
    const tok = wordTokenizer();
    const { chunks } = promptChunks(tok, `${words(70)}, ${words(10, 70)}`, { longPrompts: true });
    expect(chunks).toHaveLength(2);
    const text0 = chunks[0]!.ids.slice(1, chunks[0]!.ids.indexOf(2));
    expect(text0).toHaveLength(71);
    expect(text0[70]).toBe(3);
    expect(chunks[0]!.ids.slice(72)).toEqual([2, 0, 0, 0, 0]);
    expect(chunks[1]!.ids.slice(0, 12)).toEqual([1, ...Array.from({ length: 10 }, (_, i) => 80 + i), 2]);
    // A comma further back than 20 tokens does not move anything.
    const far = promptChunks(wordTokenizer(), `${words(50)}, ${words(30, 50)}`, { longPrompts: true });
    expect(far.chunks[0]!.ids.indexOf(2)).toBe(76);
  });

  it('emphasis gives each token its text weight, 1 for bos, eos and padding', () => {
    const { chunks } = promptChunks(wordTokenizer(), 'a (b c:1.5) [d]', { emphasis: true });
    expect(chunks[0]!.ids.slice(0, 6)).toEqual([1, 10, 11, 12, 13, 2]);
    expect(chunks[0]!.weights.slice(0, 7)).toEqual([1, 1, 1.5, 1.5, 1 / 1.1, 1, 1]);
    // Off, the brackets are text.
    const off = promptChunks(wordTokenizer(), 'a (b c:1.5) [d]');
    expect(off.chunks[0]!.weights.every((w) => w === 1)).toBe(true);
  });
});

describe('applyEmphasis', () => {
  it("multiplies each token's row by its weight and restores the mean", () => {
    const width = 3;
    const hidden = Float32Array.from([0.5, -1, 2, 1, 1, 1, -0.25, 3, 0.75, 2, 2, -1]);
    const weights = [1, 1.5, 1 / 1.1, 0.25];
    const got = applyEmphasis(hidden, weights, width);
    const scaled = Array.from(hidden, (v, i) => v * weights[Math.floor(i / width)]!);
    const mean = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0) / a.length;
    const c = mean(hidden) / mean(scaled);
    for (let i = 0; i < hidden.length; i++) expect(got[i]).toBeCloseTo(scaled[i]! * c, 6);
    expect(mean(got)).toBeCloseTo(mean(hidden), 6);
  });

  it('all weights 1 returns the states unchanged', () => {
    const hidden = Float32Array.from([1, 2, 3, 4]);
    expect(applyEmphasis(hidden, [1, 1], 2)).toBe(hidden);
  });
});
