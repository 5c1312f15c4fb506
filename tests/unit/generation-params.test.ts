/**
 * A1111 infotexts: the realistic strings below are shaped like the text A1111 writes
 * (modules/processing.py `create_infotext`); their expected fields were read off by hand using
 * `parse_generation_parameters`' rules (last line = settings when it has >= 3 entries, lines
 * trimmed, `Negative prompt:` starts the negative prompt, quoted values are JSON).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatGenerationParams,
  fromA1111Sampler,
  type GenerationParams,
  normalizeInfotextPrompt,
  parseGenerationParams,
  toA1111Sampler,
} from '../../src/core/pipeline/generation-params.ts';
import type { Keyframe, Schedule } from '../../src/core/pipeline/schedule.ts';
import { SCHEDULER_KINDS } from '../../src/core/pipeline/schedulers/types.ts';
import { LorafuseError } from '../../src/errors.ts';
import { A1111_PARSED } from './generation-params-a1111-cases.ts';

describe('parseGenerationParams on A1111 infotexts', () => {
  it('reads the example in A1111 parse_generation_parameters docstring (pre-1.9, no schedule type)', () => {
    const text = [
      "girl with an artist's beret, determined, blue eyes, desert scene, computer monitors, heavy makeup, by Alphonse Mucha and Charlie Bowater, ((eyeshadow)), (coquettish), detailed, intricate",
      'Negative prompt: ugly, fat, obese, chubby, (((deformed))), [blurry], bad anatomy, disfigured, poorly drawn face, mutation, mutated, (extra_limb), (ugly), (poorly drawn hands), messy drawing',
      'Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 965400086, Size: 512x512, Model hash: 45dee52b',
    ].join('\n');
    expect(parseGenerationParams(text)).toEqual({
      prompt:
        "girl with an artist's beret, determined, blue eyes, desert scene, computer monitors, heavy makeup, by Alphonse Mucha and Charlie Bowater, ((eyeshadow)), (coquettish), detailed, intricate",
      negativePrompt:
        'ugly, fat, obese, chubby, (((deformed))), [blurry], bad anatomy, disfigured, poorly drawn face, mutation, mutated, (extra_limb), (ugly), (poorly drawn hands), messy drawing',
      steps: 20,
      scheduler: 'euler-a',
      cfgScale: 7,
      seed: 965400086,
      width: 512,
      height: 512,
      modelHash: '45dee52b',
    });
  });

  it('reads a v1.10 infotext: multi-line prompt with LoRA tags, hires fix, quoted hashes, Windows line ends', () => {
    const text = [
      'masterpiece, best quality, 1girl, <lora:add_detail:0.6>, <lora:epiNoiseoffset_v2:0.5:1>',
      '  sitting in a café,  golden hour  ',
      '',
      'BREAK detailed background',
      'Negative prompt: (worst quality:1.4), (low quality:1.4), easynegative',
      'bad hands',
      'Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3141592653, Size: 512x768, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.45, Clip skip: 2, Hires upscale: 2, Hires steps: 15, Hires upscaler: R-ESRGAN 4x+ Anime6B, Lora hashes: "add_detail: 7c6bad76eb54, epiNoiseoffset_v2: d1131f7207d6", TI hashes: "easynegative: c74b4e810b03", Version: v1.10.1',
    ].join('\r\n');
    expect(parseGenerationParams(text)).toEqual({
      prompt:
        'masterpiece, best quality, 1girl, <lora:add_detail:0.6>, <lora:epiNoiseoffset_v2:0.5:1>\nsitting in a café,  golden hour\n\nBREAK detailed background',
      negativePrompt: '(worst quality:1.4), (low quality:1.4), easynegative\nbad hands',
      steps: 30,
      scheduler: 'dpmpp-2m-karras',
      cfgScale: 6.5,
      seed: 3141592653,
      width: 512,
      height: 768,
      modelHash: '6ce0161689',
      model: 'v1-5-pruned-emaonly',
      denoisingStrength: 0.45,
      clipSkip: 2,
      loraHashes: { add_detail: '7c6bad76eb54', epiNoiseoffset_v2: 'd1131f7207d6' },
      version: 'v1.10.1',
      extra: {
        'Hires upscale': '2',
        'Hires steps': '15',
        'Hires upscaler': 'R-ESRGAN 4x+ Anime6B',
        'TI hashes': 'easynegative: c74b4e810b03',
      },
    });
  });

  it('reads JSON-quoted values with escapes, and unknown samplers as written', () => {
    const text = [
      'a cat',
      'Steps: 20, Sampler: DPM++ SDE, Schedule type: Exponential, CFG scale: 7, Seed: -1, Size: 768x512, Hires prompt: "a \\"fluffy\\" cat, 4k\\nline two", ADetailer model: face_yolov8n.pt, Module 1: sdxl_vae',
    ].join('\n');
    expect(parseGenerationParams(text)).toEqual({
      prompt: 'a cat',
      negativePrompt: '',
      steps: 20,
      sampler: 'DPM++ SDE',
      scheduleType: 'Exponential',
      cfgScale: 7,
      seed: -1,
      width: 768,
      height: 512,
      extra: {
        'Hires prompt': 'a "fluffy" cat, 4k\nline two',
        'ADetailer model': 'face_yolov8n.pt',
        'Module 1': 'sdxl_vae',
      },
    });
  });

  it('reads a prompt with no settings line (fewer than three entries) as all prompt', () => {
    expect(parseGenerationParams('a cat\nSteps: 20, Seed: 5')).toEqual({
      prompt: 'a cat\nSteps: 20, Seed: 5',
      negativePrompt: '',
    });
  });

  it('keeps a known key whose value does not parse in extra', () => {
    const p = parseGenerationParams('x\nSteps: many, Sampler: Euler, CFG scale: 7, Seed: 1, Size: big');
    expect(p).toMatchObject({
      scheduler: 'euler',
      cfgScale: 7,
      seed: 1,
      extra: { Steps: 'many', Size: 'big' },
    });
    expect(p.steps).toBeUndefined();
    expect(parseGenerationParams(formatGenerationParams(p))).toEqual(p);
  });
});

describe("agreement with A1111's own parser", () => {
  it('reads tricky A1111-written infotexts to the fields A1111 itself reads (reference run in Python)', () => {
    for (const [text, want] of A1111_PARSED) {
      const p = parseGenerationParams(text);
      const got: Record<string, string> = {
        Prompt: p.prompt,
        'Negative prompt': p.negativePrompt,
        ...p.extra,
      };
      if (p.steps !== undefined) got.Steps = String(p.steps);
      if (p.cfgScale !== undefined) got['CFG scale'] = String(p.cfgScale);
      if (p.seed !== undefined) got.Seed = String(p.seed);
      if (p.model !== undefined) got.Model = p.model;
      if (p.scheduler !== undefined) got.Sampler = toA1111Sampler(p.scheduler).sampler;
      expect(got, text).toEqual(want);
    }
  });
});

describe('samplers', () => {
  it('maps every lorafuse scheduler to A1111 and back', () => {
    for (const kind of SCHEDULER_KINDS) {
      const { sampler, scheduleType } = toA1111Sampler(kind);
      expect(fromA1111Sampler(sampler, scheduleType)).toBe(kind);
    }
    expect(toA1111Sampler('dpmpp-2m-karras')).toEqual({ sampler: 'DPM++ 2M', scheduleType: 'Karras' });
    expect(toA1111Sampler('euler-a')).toEqual({ sampler: 'Euler a', scheduleType: 'Automatic' });
    expect(toA1111Sampler('lcm')).toEqual({ sampler: 'LCM', scheduleType: 'Automatic' });
  });

  it('reads old names and A1111 defaults', () => {
    expect(fromA1111Sampler('DPM++ 2M Karras')).toBe('dpmpp-2m-karras'); // before 1.9
    expect(fromA1111Sampler('DPM++ 2M')).toBe('dpmpp-2m'); // before 1.9: uniform
    expect(fromA1111Sampler('DPM++ 2M', 'Automatic')).toBe('dpmpp-2m-karras'); // 1.9+: Karras by default
    expect(fromA1111Sampler('Euler')).toBe('euler');
    expect(fromA1111Sampler('DDIM', 'Automatic')).toBe('ddim');
    expect(fromA1111Sampler('Euler a', 'Karras')).toBeUndefined();
    expect(fromA1111Sampler('DPM++ 2M', 'Exponential')).toBeUndefined();
    expect(fromA1111Sampler('Heun')).toBeUndefined();
  });
});

describe('formatGenerationParams', () => {
  const base: GenerationParams = {
    prompt: 'a photo of a cat, <lora:style:0.8>\nsoft light',
    negativePrompt: 'blurry',
    steps: 20,
    scheduler: 'dpmpp-2m-karras',
    cfgScale: 7.5,
    seed: 123,
    width: 512,
    height: 768,
    model: 'stable-diffusion-v1-5',
    loraHashes: { style: 'abcdef123456' },
    adapterSchedules: {
      style: [
        [0, 0],
        [0.5, 1],
      ],
      detail: 0.8,
    },
    scaleSchedule: 1,
    lorafuseVersion: '0.1.0',
  };

  it('writes the A1111 layout with our keys after the standard ones', () => {
    expect(formatGenerationParams(base)).toBe(
      [
        'a photo of a cat, <lora:style:0.8>',
        'soft light',
        'Negative prompt: blurry',
        'Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7.5, Seed: 123, Size: 512x768, Model: stable-diffusion-v1-5, Lora hashes: "style: abcdef123456", Lorafuse schedules: "style=0@0,1@0.5; detail=0.8", Lorafuse scale: 1, Lorafuse version: 0.1.0',
      ].join('\n'),
    );
    expect(parseGenerationParams(formatGenerationParams(base))).toEqual(base);
  });

  it('omits an empty negative prompt and trims prompt lines the way A1111 reads them', () => {
    const text = formatGenerationParams({ ...base, prompt: '\n  a cat  \n\n  b', negativePrompt: '  \n ' });
    expect(text.split('\n').slice(0, 3)).toEqual(['a cat', '', 'b']);
    expect(text).not.toContain('Negative prompt');
  });

  it('quotes values that hold a comma, colon or newline as JSON, and values A1111 would change', () => {
    const text = formatGenerationParams({
      ...base,
      model: 'my model: v2, final',
      extra: { Note: '"hi"', Pad: ' x ', Empty: '', Plain: 'a"b' },
    });
    expect(text).toContain('Model: "my model: v2, final"');
    expect(text).toContain('Note: "\\"hi\\""');
    expect(text).toContain('Pad: " x "');
    expect(text).toContain('Empty: ""');
    expect(text).toContain('Plain: a"b');
  });

  it('refuses what it cannot write faithfully', () => {
    const bad: [GenerationParams, RegExp][] = [
      [{ ...base, steps: 20.5 }, /steps must be a positive integer/],
      [{ ...base, width: 512, height: undefined }, /both width and height/],
      [{ ...base, sampler: 'Heun' }, /either scheduler .* or an A1111 sampler/],
      [{ ...base, prompt: 'a cat\n  Negative prompt: dog' }, /Prompt line 2 starts with 'Negative prompt:'/],
      [{ prompt: 'a', negativePrompt: '', steps: 20, seed: 1 }, /at least three settings/],
      [{ ...base, extra: { 'bad:key': 'x' } }, /key 'bad:key' cannot be written/],
      [{ ...base, extra: { Steps: '5' } }, /'Steps' is given twice/],
      [{ ...base, adapterSchedules: { 'a;b': 1 } }, /Adapter name 'a;b'/],
      [{ ...base, scaleSchedule: Number.NaN }, /finite number/],
    ];
    for (const [p, message] of bad) {
      let err: unknown;
      try {
        formatGenerationParams(p);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(LorafuseError);
      expect((err as LorafuseError).code).toBe('invalid-argument');
      expect((err as LorafuseError).message).toMatch(message);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Round-trip properties

const KNOWN_KEYS = new Set([
  'Steps',
  'Sampler',
  'Schedule type',
  'CFG scale',
  'Seed',
  'Size',
  'Model hash',
  'Model',
  'Clip skip',
  'Denoising strength',
  'Lora hashes',
  'Lorafuse schedules',
  'Lorafuse scale',
  'Lorafuse version',
  'Version',
]);

/** Text full of what infotexts find hard: commas, quotes, colons, newlines, odd spaces, Unicode. */
const tricky = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        ',',
        ':',
        '"',
        '\\',
        '\n',
        '\r\n',
        ' ',
        '  ',
        '\t',
        '\u00a0',
        '\u3000',
        '\ufeff',
        '\u2028',
        '\x1c',
      ),
      fc.constantFrom(
        '<lora:a_b:0.5>',
        '(cat:1.2)',
        'Steps: 20, Sampler: Euler, Seed: 1',
        'Negative prompt:',
        'BREAK',
      ),
      fc.constantFrom('café', '京都の猫', '🐈‍⬛', 'Ñandú', 'e\u0301'),
      fc.string({ maxLength: 6 }),
      fc.string({ maxLength: 4, unit: 'binary' }),
    ),
    { maxLength: 14 },
  )
  .map((parts) => parts.join(''));

const finite = fc.double({ noNaN: true, noDefaultInfinity: true });
const keyframes = fc.array(fc.tuple(fc.double({ min: 0, max: 50, noNaN: true }), finite), {
  minLength: 1,
  maxLength: 4,
});
const schedule: fc.Arbitrary<Schedule> = fc.oneof(finite, keyframes as fc.Arbitrary<Keyframe[]>);
const cleanName = fc
  .string({ minLength: 1, maxLength: 10, unit: 'grapheme' })
  .filter((s) => s.trim() === s && s.length > 0 && !/[;=:,\s]/.test(s));
const extraKey = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_ \-/]{1,14}$/).filter((k) => !KNOWN_KEYS.has(k));

const samplerChoice = fc.oneof(
  fc.record({ scheduler: fc.constantFrom(...SCHEDULER_KINDS) }),
  fc.record(
    {
      sampler: fc.constantFrom('Heun', 'DPM++ SDE', 'UniPC', 'DPM2 a', 'Restart'),
      scheduleType: fc.constantFrom('Karras', 'Exponential', 'SGM Uniform', 'Automatic'),
    },
    { requiredKeys: ['sampler'] },
  ),
  fc.constant({}),
);

const paramsArb: fc.Arbitrary<GenerationParams> = fc
  .tuple(
    fc.record(
      {
        prompt: tricky,
        negativePrompt: tricky,
        steps: fc.integer({ min: 1, max: 150 }),
        cfgScale: finite,
        seed: fc.oneof(
          fc.integer(),
          fc.maxSafeInteger(),
          fc.maxSafeNat().map((n) => (n === 0 ? 0 : -n)),
        ),
        modelHash: tricky,
        model: tricky,
        clipSkip: fc.integer({ min: 1, max: 12 }),
        denoisingStrength: finite,
        loraHashes: fc.dictionary(cleanName, fc.stringMatching(/^[0-9a-f]{10,12}$/), { maxKeys: 3 }),
        adapterSchedules: fc.dictionary(cleanName, schedule, { maxKeys: 3 }),
        scaleSchedule: schedule,
        lorafuseVersion: tricky,
        version: tricky,
        extra: fc.dictionary(extraKey, tricky, { maxKeys: 4 }),
      },
      { requiredKeys: ['prompt', 'negativePrompt', 'steps', 'cfgScale', 'seed'] },
    ),
    fc.option(fc.tuple(fc.integer({ min: 1, max: 4096 }), fc.integer({ min: 1, max: 4096 })), {
      nil: undefined,
    }),
    samplerChoice,
  )
  .map(([p, size, sampler]) => ({ ...p, ...(size ? { width: size[0], height: size[1] } : {}), ...sampler }));

/** What a value looks like after a trip through text: -0 prints as 0, empty maps are not written. */
function expected(p: GenerationParams): GenerationParams {
  const z = (x: number) => (Object.is(x, -0) ? 0 : x);
  const sched = (s: Schedule): Schedule =>
    typeof s === 'number' ? z(s) : (s as readonly Keyframe[]).map(([a, b]) => [z(a), z(b)] as const);
  const out: GenerationParams = {
    ...p,
    prompt: normalizeInfotextPrompt(p.prompt),
    negativePrompt: normalizeInfotextPrompt(p.negativePrompt),
  };
  if (out.cfgScale !== undefined) out.cfgScale = z(out.cfgScale);
  if (out.denoisingStrength !== undefined) out.denoisingStrength = z(out.denoisingStrength);
  if (out.scaleSchedule !== undefined) out.scaleSchedule = sched(out.scaleSchedule);
  if (out.adapterSchedules) {
    out.adapterSchedules = Object.fromEntries(
      Object.entries(out.adapterSchedules).map(([k, s]) => [k, sched(s)]),
    );
  }
  for (const k of ['loraHashes', 'adapterSchedules', 'extra'] as const) {
    if (out[k] && Object.keys(out[k]).length === 0) delete out[k];
  }
  return out;
}

/** Whitespace in either sense: JS \s plus what Python's str.isspace() adds (\x1c-\x1f, \x85). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: Python counts \x1c-\x1f as whitespace.
const PY_SPACE = /[\s\x1c-\x1f\x85]+/gu;

function startsNegative(text: string): boolean {
  return text.split('\n').some((l) => l.startsWith('Negative prompt:'));
}

describe('format/parse round trip (properties)', () => {
  it('parse(format(p)) is p, prompts in the form A1111 reads them back', () => {
    fc.assert(
      fc.property(paramsArb, (p) => {
        const want = expected(p);
        if (startsNegative(want.prompt) || startsNegative(want.negativePrompt)) {
          expect(() => formatGenerationParams(p)).toThrow(/starts with 'Negative prompt:'/);
          return;
        }
        expect(parseGenerationParams(formatGenerationParams(p))).toEqual(want);
      }),
      { numRuns: 400 },
    );
  });

  it('format is stable: format(parse(format(p))) === format(p)', () => {
    fc.assert(
      fc.property(paramsArb, (p) => {
        const want = expected(p);
        fc.pre(!startsNegative(want.prompt) && !startsNegative(want.negativePrompt));
        const text = formatGenerationParams(p);
        expect(formatGenerationParams(parseGenerationParams(text))).toBe(text);
      }),
      { numRuns: 200 },
    );
  });

  it('normalization only touches whitespace at line edges and leading blank lines', () => {
    fc.assert(
      fc.property(tricky, (s) => {
        const n = normalizeInfotextPrompt(s);
        expect(normalizeInfotextPrompt(n)).toBe(n);
        const squash = (t: string) => t.replace(PY_SPACE, '');
        expect(squash(n)).toBe(squash(s));
      }),
    );
  });
});
