/**
 * Expected values follow A1111's rules (modules/extra_networks.py `parse_prompt`, the Lora
 * extension's `activate`): tag regex `<(\w+):([^>]+)>`, args split on ':', `k=v` items named,
 * name = first positional, te = 2nd positional or te= (default 1), unet = 3rd or unet= (default te),
 * dyn = 4th or dyn=. Each case below was worked out by hand from those rules.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { extractPromptLoras, formatLoraTag } from '../../src/core/pipeline/prompt-loras.ts';
import { LorafuseError } from '../../src/errors.ts';

function loras(prompt: string) {
  return extractPromptLoras(prompt).loras.map(({ tag: _tag, ...rest }) => rest);
}

describe('extractPromptLoras', () => {
  it('cuts a tag out and keeps the punctuation around it, as A1111 does', () => {
    const r = extractPromptLoras('masterpiece, <lora:add_detail:0.6>, 1girl, looking at viewer');
    expect(r.prompt).toBe('masterpiece, , 1girl, looking at viewer');
    expect(r.loras).toEqual([{ name: 'add_detail', weight: 0.6, te: 0.6, tag: '<lora:add_detail:0.6>' }]);
    expect(r.others).toEqual([]);
  });

  it('reads every positional and named form with A1111 defaults', () => {
    expect(loras('<lora:a>')).toEqual([{ name: 'a', weight: 1, te: 1 }]);
    expect(loras('<lora:a:0.5:0.8>')).toEqual([{ name: 'a', weight: 0.8, te: 0.5 }]);
    expect(loras('<lora:a:te=0.3:unet=0.9>')).toEqual([{ name: 'a', weight: 0.9, te: 0.3 }]);
    expect(loras('<lora:a:0.7:unet=0.2>')).toEqual([{ name: 'a', weight: 0.2, te: 0.7 }]);
    expect(loras('<lora:a:te=0.4>')).toEqual([{ name: 'a', weight: 0.4, te: 0.4 }]);
    expect(loras('<lora:a:0.9:te=0.1>')).toEqual([{ name: 'a', weight: 0.1, te: 0.1 }]);
    expect(loras('<lora:a:1:0.5:16>')).toEqual([{ name: 'a', weight: 0.5, te: 1, dyn: 16 }]);
    expect(loras('<lora:a:dyn=8>')).toEqual([{ name: 'a', weight: 1, te: 1, dyn: 8 }]);
    expect(loras('<lora:a:-1.5>')).toEqual([{ name: 'a', weight: -1.5, te: -1.5 }]);
    expect(loras('<lora: spaced name : 0.25 >')).toEqual([{ name: 'spaced name', weight: 0.25, te: 0.25 }]);
  });

  it('accepts lyco as an alias, Unicode and punctuation in names, and loractl schedules', () => {
    expect(loras('<lyco:loha-style_v2.1:0.9>')).toEqual([{ name: 'loha-style_v2.1', weight: 0.9, te: 0.9 }]);
    expect(loras('<lora:日本語スタイル:0.7>')).toEqual([{ name: '日本語スタイル', weight: 0.7, te: 0.7 }]);
    expect(loras('<lora:x:0@0,1@0.5>')).toEqual([
      {
        name: 'x',
        weight: [
          [0, 0],
          [0.5, 1],
        ],
        te: [
          [0, 0],
          [0.5, 1],
        ],
      },
    ]);
  });

  it('cuts other extra networks out too and reports them', () => {
    const r = extractPromptLoras('a cat <hypernet:anime:1> <lora:x:0.5>');
    expect(r.prompt).toBe('a cat');
    expect(r.others).toEqual([{ type: 'hypernet', tag: '<hypernet:anime:1>' }]);
    expect(r.loras.map((l) => l.name)).toEqual(['x']);
  });

  it('tidies whitespace only, keeping line breaks, over a multi-line prompt', () => {
    const r = extractPromptLoras('  a  cat\t<lora:x:1>  \n  blue sky, <lora:y:0.5>\n\n(best quality:1.2)  ');
    expect(r.prompt).toBe('a cat\nblue sky,\n\n(best quality:1.2)');
    expect(r.loras.map((l) => [l.name, l.weight])).toEqual([
      ['x', 1],
      ['y', 0.5],
    ]);
  });

  it('leaves a prompt without tags as it is (modulo whitespace)', () => {
    const r = extractPromptLoras('photo of a cat: (sharp:1.1), [blurry]');
    expect(r).toEqual({ prompt: 'photo of a cat: (sharp:1.1), [blurry]', loras: [], others: [] });
  });

  it('names a bad tag', () => {
    const bad: [string, RegExp][] = [
      ['<lora::1>', /Prompt tag <lora::1>: the LoRA name is empty/],
      ['x <lora:a:abc>', /<lora:a:abc>: te weight 'abc' is not a number/],
      ['<lora:a:1:zz>', /<lora:a:1:zz>: unet weight 'zz'/],
      ['<lora:a:te=1e>', /te '1e'/],
      ['<lora:a:inf>', /'inf' is not a number/],
      ['<lora:a:1:2:3:4>', /5 arguments, at most 4/],
      ['<lora:a:foo=1>', /unknown named argument 'foo'/],
      ['<lora:a:x=1=2>', /more than one '='/],
      ['<lora:a:dyn=1.5>', /dyn '1.5' is not a positive integer/],
      ['<lora:a:0.5>, <lora:a:1>', /'a' is named twice in the prompt \(<lora:a:0.5> and <lora:a:1>\)/],
      ['a cat, <lora:a:0.5', /'<lora:a:0.5' is not a complete tag/],
      ['<lora:>', /'<lora:' is not a complete tag/],
    ];
    for (const [prompt, message] of bad) {
      let err: unknown;
      try {
        extractPromptLoras(prompt);
      } catch (e) {
        err = e;
      }
      expect(err, prompt).toBeInstanceOf(LorafuseError);
      expect((err as LorafuseError).code).toBe('invalid-argument');
      expect((err as LorafuseError).message, prompt).toMatch(message);
    }
  });
});

describe('formatLoraTag', () => {
  it('writes the short form when te equals the weight, the te:unet form otherwise', () => {
    expect(formatLoraTag({ name: 'a', weight: 0.8 })).toBe('<lora:a:0.8>');
    expect(formatLoraTag({ name: 'a', weight: 0.8, te: 0.5 })).toBe('<lora:a:0.5:0.8>');
    expect(
      formatLoraTag({
        name: 'a',
        weight: [
          [0, 1],
          [1, 0],
        ],
      }),
    ).toBe('<lora:a:1@0,0@1>');
    expect(formatLoraTag({ name: 'a', weight: 1, dyn: 4 })).toBe('<lora:a:1:dyn=4>');
    expect(() => formatLoraTag({ name: 'a:b', weight: 1 })).toThrow(/cannot be written as a prompt tag/);
  });

  it('round-trips through extractPromptLoras (property)', () => {
    const weight = fc.oneof(
      fc.double({ min: -4, max: 4, noNaN: true, noDefaultInfinity: true }),
      fc.array(
        fc.tuple(fc.double({ min: 0, max: 30, noNaN: true }), fc.double({ min: -2, max: 2, noNaN: true })),
        {
          minLength: 1,
          maxLength: 4,
        },
      ),
    );
    const name = fc
      .string({ minLength: 1, maxLength: 12, unit: 'grapheme' })
      .filter((s) => s.trim() === s && s !== '' && !/[:<>=\n\t]/.test(s) && !/ {2}/.test(s));
    fc.assert(
      fc.property(name, weight, fc.option(weight, { nil: undefined }), (n, w, te) => {
        const tag = formatLoraTag({ name: n, weight: w, te });
        const r = extractPromptLoras(`before ${tag} after`);
        expect(r.prompt).toBe('before after');
        expect(r.loras).toHaveLength(1);
        const l = r.loras[0]!;
        expect(l.name).toBe(n);
        expect(l.weight).toEqual(normalize(w));
        expect(l.te).toEqual(normalize(te ?? w));
      }),
    );
  });
});

/** -0 prints as "0"; a keyframe list stays a list. */
function normalize(w: number | (readonly [number, number])[]): unknown {
  const fix = (x: number) => (Object.is(x, -0) ? 0 : x);
  return typeof w === 'number' ? fix(w) : w.map(([p, v]) => [fix(p), fix(v)]);
}
