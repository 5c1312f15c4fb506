/**
 * A1111's "parameters" text (the infotext under an image and in its PNG `parameters` chunk):
 *
 *     a photo of a cat, <lora:style:0.8>
 *     second prompt line
 *     Negative prompt: blurry, lowres
 *     Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 123, Size: 512x768, ...
 *
 * Writing follows `create_infotext` (modules/processing.py): prompt, then `Negative prompt: ...`
 * when there is one, then one line of `Key: value` entries joined by ", ", a value that contains
 * ',', ':' or a newline written as a JSON string. Reading follows `parse_generation_parameters`
 * (modules/infotext_utils.py): the last line holds the settings when A1111's entry pattern finds
 * at least three entries in it; every other line is trimmed; the lines before the first
 * `Negative prompt:` line form the prompt, the rest the negative prompt.
 *
 * That reading trims every prompt line and drops leading blank lines, so `format` writes prompts in
 * that form (`normalizeInfotextPrompt`), which the CLIP tokenizer cannot tell apart from the
 * original, and `parse(format(p))` gives `p` back. Lorafuse's own settings ride along as
 * `Lorafuse schedules` (per-adapter loractl schedules), `Lorafuse scale` (the global LoRA scale
 * schedule), `Lorafuse fused` (adapters fused into the model, at their strength) and
 * `Lorafuse version`; A1111 keeps unknown keys, so its users can still paste the text.
 */
import { LorafuseError } from '../../errors.ts';
import { formatSchedule, parseSchedule, type Schedule, validateSchedule } from './schedule.ts';
import type { SchedulerKind } from './schedulers/types.ts';

export interface GenerationParams {
  prompt: string;
  negativePrompt: string;
  steps?: number;
  /** One of lorafuse's schedulers; written as A1111's Sampler + Schedule type. */
  scheduler?: SchedulerKind;
  /** An A1111 sampler lorafuse does not have (`Heun`, `DPM++ SDE`, ...), kept as written. */
  sampler?: string;
  /** A1111's schedule type when `sampler` is set, or when it does not map to a lorafuse scheduler. */
  scheduleType?: string;
  cfgScale?: number;
  seed?: number;
  width?: number;
  height?: number;
  modelHash?: string;
  model?: string;
  clipSkip?: number;
  denoisingStrength?: number;
  /** A1111's `Lora hashes`: LoRA name -> short hash. */
  loraHashes?: Record<string, string>;
  /** Per-adapter strength schedules (`Lorafuse schedules: "name=0@0,1@0.5; other=0.8"`). */
  adapterSchedules?: Record<string, Schedule>;
  /** The global LoRA scale schedule (`Lorafuse scale: ...`). */
  scaleSchedule?: Schedule;
  /**
   * Adapters fused into the model when the image was made, with the strength each was fused at
   * (weight x lora scale): `Lorafuse fused: "name=0.8; other=1"`.
   */
  fusedAdapters?: Record<string, number>;
  lorafuseVersion?: string;
  /** A1111's `Version` (e.g. `v1.10.1`), kept when read from an A1111 file. */
  version?: string;
  /** Every other entry, as written (unquoted), e.g. `Hires upscale`, `ADetailer model`. */
  extra?: Record<string, string>;
}

/** A record keyed by user text (adapter names, infotext keys): no prototype, so `__proto__` is a key like any other. */
function dictionary<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

function invalid(message: string, details: Record<string, unknown> = {}): LorafuseError {
  return new LorafuseError('invalid-argument', message, details);
}

// ---------------------------------------------------------------------------------------------
// Samplers

interface A1111Sampler {
  sampler: string;
  scheduleType: string;
}

/**
 * A1111 names for lorafuse's schedulers. Since A1111 1.9, `Automatic` means the sampler's default
 * schedule, which is Karras for DPM++ 2M, so plain DPM++ 2M is written as `Uniform`.
 */
const TO_A1111: Readonly<Record<SchedulerKind, A1111Sampler>> = {
  euler: { sampler: 'Euler', scheduleType: 'Automatic' },
  'euler-a': { sampler: 'Euler a', scheduleType: 'Automatic' },
  ddim: { sampler: 'DDIM', scheduleType: 'Automatic' },
  'dpmpp-2m': { sampler: 'DPM++ 2M', scheduleType: 'Uniform' },
  'dpmpp-2m-karras': { sampler: 'DPM++ 2M', scheduleType: 'Karras' },
  lcm: { sampler: 'LCM', scheduleType: 'Automatic' },
};

export function toA1111Sampler(kind: SchedulerKind): A1111Sampler {
  return { ...TO_A1111[kind] };
}

/**
 * The lorafuse scheduler for an A1111 sampler and schedule type, or undefined when there is none.
 * A missing schedule type is an infotext from before A1111 1.9, where `DPM++ 2M Karras` was one
 * sampler name and `DPM++ 2M` meant the uniform schedule.
 */
export function fromA1111Sampler(sampler: string, scheduleType?: string): SchedulerKind | undefined {
  let name = sampler.trim();
  let type = scheduleType?.trim();
  if (type === undefined && name.endsWith(' Karras')) {
    name = name.slice(0, -' Karras'.length);
    type = 'Karras';
  }
  if (name === 'DPM++ 2M') {
    if (type === 'Karras' || type === 'Automatic') return 'dpmpp-2m-karras';
    if (type === undefined || type === 'Uniform') return 'dpmpp-2m';
    return undefined;
  }
  const plain: Record<string, SchedulerKind> = {
    Euler: 'euler',
    'Euler a': 'euler-a',
    DDIM: 'ddim',
    LCM: 'lcm',
  };
  const kind = plain[name];
  return kind && (type === undefined || type === 'Automatic') ? kind : undefined;
}

// ---------------------------------------------------------------------------------------------
// Text helpers with Python's semantics

/** The characters Python's `str.strip()` removes (`str.isspace()`). */
const PY_SPACE =
  '\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, 'g');

function pyStrip(s: string): string {
  return s.replace(PY_STRIP, '');
}

/** A1111's `re_param`, `\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)`, with Python's Unicode `\w` and `\s`. */
const PARAM = new RegExp(
  `[${PY_SPACE}]*([\\p{L}\\p{N}_][\\p{L}\\p{N}_ \\-/]+):[${PY_SPACE}]*("(?:\\\\.|[^\\\\"])+"|[^,]*)(?:,|$)`,
  'gu',
);
const KEY = /^[\p{L}\p{N}_][\p{L}\p{N}_ \-/]+$/u;
const NEGATIVE = 'Negative prompt:';

/** A1111's `quote`, also quoting what its reader would otherwise change (edge spaces, a leading '"', ''). */
function quote(value: string): string {
  const needs = value === '' || /[,:\n]/.test(value) || value.startsWith('"') || pyStrip(value) !== value;
  return needs ? JSON.stringify(value) : value;
}

function unquote(value: string): string {
  if (value.length === 0 || value[0] !== '"' || value[value.length - 1] !== '"') return value;
  try {
    const v: unknown = JSON.parse(value);
    return typeof v === 'string' ? v : value;
  } catch {
    return value;
  }
}

function paramEntries(line: string): [string, string][] {
  return Array.from(line.matchAll(PARAM), (m) => [m[1]!, m[2]!] as [string, string]);
}

/**
 * A prompt as A1111's reader gives it back: every line trimmed, leading blank lines dropped.
 * The CLIP tokenizer collapses whitespace, so the model sees the same tokens.
 */
export function normalizeInfotextPrompt(prompt: string): string {
  const lines = prompt.split('\n').map(pyStrip);
  while (lines.length > 0 && lines[0] === '') lines.shift();
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Format

const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const INTEGER = /^[+-]?\d+$/;

function checkNumber(key: string, v: number | undefined, kind: 'finite' | 'positive-int' | 'int'): void {
  if (v === undefined) return;
  const ok = kind === 'finite' ? Number.isFinite(v) : Number.isSafeInteger(v) && (kind === 'int' || v >= 1);
  if (!ok) {
    const want = kind === 'finite' ? 'a finite number' : kind === 'int' ? 'an integer' : 'a positive integer';
    throw invalid(`Generation parameter ${key} must be ${want}, got ${v}.`, { key, value: v });
  }
}

function checkPromptLines(which: string, text: string): void {
  text.split('\n').forEach((line, i) => {
    if (line.startsWith(NEGATIVE)) {
      throw invalid(
        `${which} line ${i + 1} starts with '${NEGATIVE}', which A1111's format reads as the start of the negative prompt; reword that line.`,
        { which, line: i + 1 },
      );
    }
  });
}

function formatLoraHashes(hashes: Record<string, string>): string {
  return Object.entries(hashes)
    .map(([name, hash]) => {
      if (/[,:]/.test(hash) || pyStrip(hash) !== hash || hash === '') {
        throw invalid(`Lora hash for '${name}' must be a non-empty hash without ',' or ':', got '${hash}'.`, {
          name,
          hash,
        });
      }
      // As A1111 does: a name cannot carry ':' or ',' in this list.
      return `${name.replaceAll(':', '').replaceAll(',', '')}: ${hash}`;
    })
    .join(', ');
}

function formatAdapterSchedules(schedules: Record<string, Schedule>, key = 'Lorafuse schedules'): string {
  return Object.entries(schedules)
    .map(([name, s]) => {
      if (name === '' || /[;=]/.test(name) || pyStrip(name) !== name) {
        throw invalid(
          `Adapter name '${name}' cannot be written in '${key}': it must be non-empty, without ';', '=' or edge spaces.`,
          { name },
        );
      }
      validateSchedule(s);
      return `${name}=${formatSchedule(s)}`;
    })
    .join('; ');
}

/** The settings line entries of `p`, in A1111's order, lorafuse's keys last but `Version`. */
function settingsEntries(p: GenerationParams): [string, string | undefined][] {
  checkNumber('steps', p.steps, 'positive-int');
  checkNumber('cfgScale', p.cfgScale, 'finite');
  checkNumber('seed', p.seed, 'int');
  checkNumber('width', p.width, 'positive-int');
  checkNumber('height', p.height, 'positive-int');
  checkNumber('clipSkip', p.clipSkip, 'positive-int');
  checkNumber('denoisingStrength', p.denoisingStrength, 'finite');
  if ((p.width === undefined) !== (p.height === undefined)) {
    throw invalid('Generation parameters need both width and height, or neither.', {
      width: p.width,
      height: p.height,
    });
  }
  if (p.scheduler !== undefined && p.sampler !== undefined) {
    throw invalid(
      `Give either scheduler ('${p.scheduler}') or an A1111 sampler ('${p.sampler}'), not both.`,
      {
        scheduler: p.scheduler,
        sampler: p.sampler,
      },
    );
  }
  const a1111 = p.scheduler !== undefined ? TO_A1111[p.scheduler] : undefined;
  if (p.scheduler !== undefined && !a1111)
    throw invalid(`Unknown scheduler '${p.scheduler}'.`, { scheduler: p.scheduler });
  const num = (v: number | undefined) => (v === undefined ? undefined : String(v));
  if (p.scaleSchedule !== undefined) validateSchedule(p.scaleSchedule);
  const core: [string, string | undefined][] = [
    ['Steps', num(p.steps)],
    ['Sampler', a1111?.sampler ?? p.sampler],
    ['Schedule type', a1111 ? a1111.scheduleType : p.scheduleType],
    ['CFG scale', num(p.cfgScale)],
    ['Seed', num(p.seed)],
    ['Size', p.width !== undefined ? `${p.width}x${p.height}` : undefined],
    ['Model hash', p.modelHash],
    ['Model', p.model],
    ['Clip skip', num(p.clipSkip)],
    ['Denoising strength', num(p.denoisingStrength)],
  ];
  const tail: [string, string | undefined][] = [
    [
      'Lora hashes',
      p.loraHashes && Object.keys(p.loraHashes).length > 0 ? formatLoraHashes(p.loraHashes) : undefined,
    ],
    [
      'Lorafuse schedules',
      p.adapterSchedules && Object.keys(p.adapterSchedules).length > 0
        ? formatAdapterSchedules(p.adapterSchedules)
        : undefined,
    ],
    ['Lorafuse scale', p.scaleSchedule !== undefined ? formatSchedule(p.scaleSchedule) : undefined],
    [
      'Lorafuse fused',
      p.fusedAdapters && Object.keys(p.fusedAdapters).length > 0
        ? formatAdapterSchedules(p.fusedAdapters, 'Lorafuse fused')
        : undefined,
    ],
    ['Lorafuse version', p.lorafuseVersion],
    ['Version', p.version],
  ];
  const typed = new Map([...core, ...tail]);
  const extra = Object.entries(p.extra ?? {}).map(([k, v]): [string, string] => {
    if (!KEY.test(k)) {
      throw invalid(
        `Generation parameter key '${k}' cannot be written: A1111 keys start with a letter, digit or '_' and hold only those, spaces, '-' and '/' (2+ characters).`,
        { key: k },
      );
    }
    if (typed.get(k) !== undefined)
      throw invalid(`Generation parameter '${k}' is given twice (as a field and in extra).`, { key: k });
    if (typeof v !== 'string')
      throw invalid(`Generation parameter '${k}' in extra must be a string.`, { key: k });
    return [k, v];
  });
  return [...core, ...extra, ...tail];
}

/**
 * The A1111 infotext for `p`. Throws `invalid-argument` for a value it cannot write faithfully
 * (a non-integer step count, a prompt line starting with `Negative prompt:`, ...) or when the
 * settings line would have fewer than three entries (A1111 would read it as part of the prompt).
 */
export function formatGenerationParams(p: GenerationParams): string {
  const prompt = normalizeInfotextPrompt(p.prompt);
  const negative = normalizeInfotextPrompt(p.negativePrompt);
  checkPromptLines('Prompt', prompt);
  checkPromptLines('Negative prompt', negative);
  const line = settingsEntries(p)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => `${k}: ${quote(v)}`)
    .join(', ');
  if (paramEntries(line).length < 3) {
    throw invalid(
      'Generation parameters need at least three settings (e.g. steps, sampler, seed) for A1111 to read the settings line.',
      { settings: line },
    );
  }
  return `${prompt}${negative ? `\n${NEGATIVE} ${negative}` : ''}\n${line}`;
}

// ---------------------------------------------------------------------------------------------
// Parse

function parseLoraHashes(text: string): Record<string, string> | undefined {
  const out: Record<string, string> = dictionary();
  for (const item of text.split(',')) {
    const colon = item.indexOf(':');
    if (colon < 0) return undefined;
    const name = item.slice(0, colon).trim();
    const hash = item.slice(colon + 1).trim();
    if (name === '' || hash === '') return undefined;
    out[name] = hash;
  }
  return out;
}

function parseAdapterSchedules(text: string): Record<string, Schedule> | undefined {
  const out: Record<string, Schedule> = dictionary();
  for (const item of text.split(';')) {
    const eq = item.indexOf('=');
    if (eq < 0) return undefined;
    const name = pyStrip(item.slice(0, eq));
    if (name === '') return undefined;
    try {
      out[name] = parseSchedule(item.slice(eq + 1));
    } catch {
      return undefined;
    }
  }
  return out;
}

function parseScheduleOrUndefined(text: string): Schedule | undefined {
  try {
    return parseSchedule(text);
  } catch {
    return undefined;
  }
}

type Setter = (p: GenerationParams, v: string) => boolean;

const num =
  (key: 'cfgScale' | 'denoisingStrength'): Setter =>
  (p, v) => {
    if (!NUMBER.test(v)) return false;
    p[key] = Number(v);
    return true;
  };
const int =
  (key: 'steps' | 'seed' | 'clipSkip', min: number): Setter =>
  (p, v) => {
    const n = Number(v);
    if (!INTEGER.test(v) || !Number.isSafeInteger(n) || n < min) return false;
    p[key] = n;
    return true;
  };
const str =
  (key: 'modelHash' | 'model' | 'lorafuseVersion' | 'version'): Setter =>
  (p, v) => {
    p[key] = v;
    return true;
  };

/** Known keys and how each sets its field; false means the value did not parse (it stays in `extra`). */
const SETTERS: Readonly<Record<string, Setter>> = {
  Steps: int('steps', 1),
  'CFG scale': num('cfgScale'),
  Seed: int('seed', Number.MIN_SAFE_INTEGER),
  Size: (p, v) => {
    const m = /^(\d+)x(\d+)$/.exec(v);
    if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) return false;
    p.width = Number(m[1]);
    p.height = Number(m[2]);
    return true;
  },
  'Model hash': str('modelHash'),
  Model: str('model'),
  'Clip skip': int('clipSkip', 1),
  'Denoising strength': num('denoisingStrength'),
  'Lora hashes': (p, v) => {
    const h = parseLoraHashes(v);
    if (h) p.loraHashes = h;
    return h !== undefined;
  },
  'Lorafuse schedules': (p, v) => {
    const s = parseAdapterSchedules(v);
    if (s) p.adapterSchedules = s;
    return s !== undefined;
  },
  'Lorafuse scale': (p, v) => {
    const s = parseScheduleOrUndefined(v);
    if (s !== undefined) p.scaleSchedule = s;
    return s !== undefined;
  },
  'Lorafuse fused': (p, v) => {
    const s = parseAdapterSchedules(v);
    if (!s || Object.values(s).some((x) => typeof x !== 'number')) return false;
    p.fusedAdapters = s as Record<string, number>;
    return true;
  },
  'Lorafuse version': str('lorafuseVersion'),
  Version: str('version'),
};

/**
 * Reads an A1111 infotext (ours or A1111's). Known settings fill typed fields; anything else, and a
 * known key whose value does not parse, is kept verbatim in `extra`, so nothing is dropped.
 */
export function parseGenerationParams(text: string): GenerationParams {
  const lines = pyStrip(text).split('\n');
  let settings = lines.pop() ?? '';
  if (paramEntries(settings).length < 3) {
    lines.push(settings);
    settings = '';
  }
  let prompt = '';
  let negative = '';
  let inNegative = false;
  for (const raw of lines) {
    let line = pyStrip(raw);
    if (line.startsWith(NEGATIVE)) {
      inNegative = true;
      line = pyStrip(line.slice(NEGATIVE.length));
    }
    if (inNegative) negative += (negative === '' ? '' : '\n') + line;
    else prompt += (prompt === '' ? '' : '\n') + line;
  }
  const out: GenerationParams = { prompt, negativePrompt: negative };
  const extra: Record<string, string> = dictionary();
  let sampler: string | undefined;
  let scheduleType: string | undefined;
  for (const [key, rawValue] of paramEntries(settings)) {
    const value = unquote(rawValue);
    if (key === 'Sampler') sampler = value;
    else if (key === 'Schedule type') scheduleType = value;
    else if (!SETTERS[key]?.(out, value)) extra[key] = value;
  }
  if (sampler !== undefined) {
    const kind = fromA1111Sampler(sampler, scheduleType);
    if (kind) out.scheduler = kind;
    else {
      out.sampler = sampler;
      if (scheduleType !== undefined) out.scheduleType = scheduleType;
    }
  } else if (scheduleType !== undefined) {
    out.scheduleType = scheduleType;
  }
  if (Object.keys(extra).length > 0) out.extra = extra;
  return out;
}
