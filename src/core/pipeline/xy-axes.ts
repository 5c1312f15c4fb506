/**
 * The axes of an X/Y plot (A1111's "X/Y/Z plot" script, two axes): what each axis sets and the
 * values it takes, parsed from the text a user types, and the plan of cells (every X value crossed
 * with every Y value, row-major: row = Y value, column = X value).
 *
 * Value syntax, as in A1111:
 * - a list separated by commas: `0, 0.5, 1`; blank entries are dropped; a value that holds a comma
 *   goes in double quotes (`"a, b"`, `""` for a quote inside), as in CSV.
 * - numeric axes also take ranges, both ends included:
 *   `1-5` (step 1, or -1 when the end is below the start), `0-1 (+0.25)` (explicit step, its sign
 *   must point from start to end), `1-3 [3]` (that many evenly spaced values; on an integer axis
 *   they are truncated towards zero like A1111's `astype(int)`). Ends may be negative (`-1-1 (+0.5)`).
 * - the schedule axis separates its values with `;`, because a loractl schedule holds commas:
 *   `1; 0@0,1@0.5; 1@0,0@1`.
 * - the scheduler axis takes lorafuse's names (`euler-a`), A1111's sampler names (`Euler a`,
 *   `DPM++ 2M Karras`) or `default` (the model's scheduler_config.json).
 * - Prompt S/R: the first value is searched in the prompt and each value replaces it (so the first
 *   cell has the prompt as typed).
 */
import { LorafuseError } from '../../errors.ts';
import { fromA1111Sampler } from './generation-params.ts';
import { formatSchedule, parseSchedule, type Schedule } from './schedule.ts';
import { SCHEDULER_KINDS, type SchedulerKind } from './schedulers/types.ts';

export type XyAxisKind =
  | 'none'
  | 'seed'
  | 'steps'
  | 'guidance'
  | 'scheduler'
  | 'lora-weight'
  | 'lora-schedule'
  | 'scale'
  | 'prompt-sr';

export const XY_AXIS_KINDS: readonly XyAxisKind[] = [
  'none',
  'seed',
  'steps',
  'guidance',
  'scheduler',
  'lora-weight',
  'lora-schedule',
  'scale',
  'prompt-sr',
];

/** What the user chose for one axis: its kind, the adapter (LoRA kinds only) and the value text. */
export interface XyAxisSpec {
  kind: XyAxisKind;
  /** The adapter a `lora-weight` or `lora-schedule` axis sets. */
  adapterName?: string;
  values: string;
}

/** One change a cell makes to the Generate panel / LoRA settings. */
export type XySetting =
  | { kind: 'seed'; value: number }
  | { kind: 'steps'; value: number }
  | { kind: 'guidance'; value: number }
  | { kind: 'scheduler'; value: SchedulerKind | 'default' }
  | { kind: 'lora-weight'; adapterName: string; value: number }
  | { kind: 'lora-schedule'; adapterName: string; value: Schedule }
  | { kind: 'scale'; value: number }
  | { kind: 'prompt-sr'; search: string; value: string };

export interface XyAxisValue {
  /** The cell label, A1111 style: `Seed: 2`, `style weight: 0.5`; a Prompt S/R value is its own label. */
  label: string;
  /** null on a `none` axis (its one value changes nothing). */
  setting: XySetting | null;
}

export interface XyAxis {
  kind: XyAxisKind;
  adapterName?: string;
  /** `Seed`, `style weight`, ... ('' for `none`). */
  title: string;
  values: XyAxisValue[];
}

/** Most values one axis may have, and most cells a plot may have (a typo like `0-10000` stops here). */
export const MAX_AXIS_VALUES = 64;
export const MAX_XY_CELLS = 256;

function invalid(message: string, details: Record<string, unknown> = {}): LorafuseError {
  return new LorafuseError('invalid-argument', message, details);
}

/**
 * Splits `text` at `separator` outside double quotes; entries are trimmed and blank ones dropped.
 * Inside quotes, `""` is one quote. An unclosed quote is an error.
 */
export function splitAxisValues(text: string, separator: ',' | ';' = ','): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  let wasQuoted = false;
  const push = () => {
    const v = wasQuoted ? cur : cur.trim();
    if (v !== '' || wasQuoted) out.push(v);
    cur = '';
    wasQuoted = false;
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') {
        quoted = false;
      } else {
        cur += ch;
      }
    } else if (ch === separator) {
      push();
    } else if (wasQuoted) {
      if (ch.trim() !== '') {
        throw invalid(`In "${text}", text follows a closing quote; put the whole value inside the quotes.`, {
          text,
        });
      }
    } else if (ch === '"' && cur.trim() === '') {
      quoted = true;
      wasQuoted = true;
      cur = '';
    } else {
      cur += ch;
    }
  }
  if (quoted) throw invalid(`In "${text}", a double quote is not closed.`, { text });
  push();
  return out;
}

const NUM = String.raw`[+-]?(?:\d+(?:\.\d*)?|\.\d+)`;
const NUMBER = new RegExp(`^${NUM}(?:[eE][+-]?\\d+)?$`);
const RANGE = new RegExp(String.raw`^(${NUM})\s*-\s*(${NUM})\s*(?:\(\s*(${NUM})\s*\)|\[\s*(\d+)\s*\])?$`);

/** Rounds away binary noise of repeated float steps (0.1 * 3 = 0.30000000000000004 -> 0.3). */
function tidy(v: number): number {
  return Number(v.toPrecision(12)) || 0;
}

function tooMany(token: string, count: number): LorafuseError {
  return invalid(
    `"${token}" gives ${count} values; an axis takes at most ${MAX_AXIS_VALUES}. Use a larger step or fewer values.`,
    { token, count },
  );
}

/** The numbers of one token: a plain number or a range (see the file comment). */
function expandNumberToken(token: string, integer: boolean): number[] {
  const what = integer ? 'an integer' : 'a number';
  if (NUMBER.test(token)) {
    const v = Number(token);
    if (integer && !Number.isSafeInteger(v))
      throw invalid(`"${token}" is not ${what}; this axis takes whole numbers.`, { token });
    return [v];
  }
  const m = RANGE.exec(token);
  if (!m) {
    throw invalid(`"${token}" is not ${what} or a range; write e.g. 0.5, 1-5, 0-1 (+0.25) or 1-3 [3].`, {
      token,
    });
  }
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (integer && !(Number.isSafeInteger(start) && Number.isSafeInteger(end))) {
    throw invalid(`Range "${token}" needs whole-number ends on this axis.`, { token });
  }
  if (m[4] !== undefined) {
    const count = Number(m[4]);
    if (count < 1) throw invalid(`Range "${token}" asks for ${count} values; ask for at least 1.`, { token });
    if (count > MAX_AXIS_VALUES) throw tooMany(token, count);
    return Array.from({ length: count }, (_, i) => {
      const v = count === 1 ? start : start + ((end - start) * i) / (count - 1);
      return integer ? Math.trunc(v) : tidy(v);
    });
  }
  const step = m[3] !== undefined ? Number(m[3]) : end >= start ? 1 : -1;
  if (integer && !Number.isSafeInteger(step)) {
    throw invalid(`Range "${token}" needs a whole-number step on this axis.`, { token });
  }
  if (step === 0) throw invalid(`Range "${token}" has step 0; use a non-zero step.`, { token });
  if ((end - start) * step < 0) {
    throw invalid(
      `Range "${token}" goes from ${start} to ${end} but its step ${step} points the other way; use ${-step}.`,
      { token },
    );
  }
  // Inclusive of the end, with a little slack for float steps (0-1 (+0.1) ends at 1).
  const count = Math.floor((end - start) / step + 1e-9) + 1;
  if (count > MAX_AXIS_VALUES) throw tooMany(token, count);
  return Array.from({ length: count }, (_, i) => (integer ? start + i * step : tidy(start + i * step)));
}

/** The numbers of a numeric axis' text, in order (duplicates kept, as A1111 does). */
export function parseNumberValues(text: string, options: { integer?: boolean } = {}): number[] {
  const out = splitAxisValues(text).flatMap((t) => expandNumberToken(t, options.integer === true));
  if (out.length > MAX_AXIS_VALUES) throw tooMany(text, out.length);
  return out;
}

/** A scheduler by lorafuse name (any case), A1111 sampler name, or `default`. */
export function parseSchedulerValue(token: string): SchedulerKind | 'default' {
  const t = token.trim();
  if (t.toLowerCase() === 'default') return 'default';
  const own = SCHEDULER_KINDS.find((k) => k === t.toLowerCase());
  if (own) return own;
  const a1111 = fromA1111Sampler(t);
  if (a1111) return a1111;
  throw invalid(
    `Unknown scheduler "${t}"; use default, ${SCHEDULER_KINDS.join(', ')}, or an A1111 name (Euler a, DPM++ 2M Karras, ...).`,
    { scheduler: t },
  );
}

/** The title of an axis, as shown on the sheet and written in the PNG (`X Type`). */
export function axisTitle(spec: Pick<XyAxisSpec, 'kind' | 'adapterName'>): string {
  switch (spec.kind) {
    case 'none':
      return '';
    case 'seed':
      return 'Seed';
    case 'steps':
      return 'Steps';
    case 'guidance':
      return 'CFG scale';
    case 'scheduler':
      return 'Scheduler';
    case 'lora-weight':
      return `${spec.adapterName ?? ''} weight`;
    case 'lora-schedule':
      return `${spec.adapterName ?? ''} schedule`;
    case 'scale':
      return 'LoRA scale';
    case 'prompt-sr':
      return 'Prompt S/R';
  }
}

function requireAdapter(spec: XyAxisSpec): string {
  const name = spec.adapterName?.trim();
  if (!name) {
    throw invalid(`A ${spec.kind} axis needs the adapter it sets; pick one of the loaded LoRAs.`, {
      kind: spec.kind,
    });
  }
  return name;
}

function numberValues(
  spec: XyAxisSpec,
  title: string,
  integer: boolean,
  check: (v: number) => string | null,
  setting: (v: number) => XySetting,
): XyAxisValue[] {
  return parseNumberValues(spec.values, { integer }).map((v) => {
    const problem = check(v);
    if (problem) throw invalid(`${title} axis: ${v} ${problem}.`, { kind: spec.kind, value: v });
    return { label: `${title}: ${v}`, setting: setting(v) };
  });
}

const anyFinite = (v: number) => (Number.isFinite(v) ? null : 'is not finite');

/** Parses one axis; throws `invalid-argument` naming the value that cannot be used. */
export function parseAxis(spec: XyAxisSpec): XyAxis {
  const title = axisTitle(spec);
  const base = { kind: spec.kind, title };
  let values: XyAxisValue[];
  switch (spec.kind) {
    case 'none':
      return { ...base, values: [{ label: '', setting: null }] };
    case 'seed':
      values = numberValues(
        spec,
        title,
        true,
        (v) => (v >= 0 ? null : 'is negative; seeds are integers >= 0'),
        (value) => ({ kind: 'seed', value }),
      );
      break;
    case 'steps':
      values = numberValues(
        spec,
        title,
        true,
        (v) => (v >= 1 ? null : 'is below 1'),
        (value) => ({ kind: 'steps', value }),
      );
      break;
    case 'guidance':
      values = numberValues(spec, title, false, anyFinite, (value) => ({ kind: 'guidance', value }));
      break;
    case 'scale':
      values = numberValues(spec, title, false, anyFinite, (value) => ({ kind: 'scale', value }));
      break;
    case 'lora-weight': {
      const adapterName = requireAdapter(spec);
      values = numberValues(spec, title, false, anyFinite, (value) => ({
        kind: 'lora-weight',
        adapterName,
        value,
      }));
      return { ...base, adapterName, values: checkCount(spec, values) };
    }
    case 'scheduler':
      values = splitAxisValues(spec.values).map((t) => {
        const value = parseSchedulerValue(t);
        return { label: `${title}: ${value}`, setting: { kind: 'scheduler', value } };
      });
      break;
    case 'lora-schedule': {
      const adapterName = requireAdapter(spec);
      values = splitAxisValues(spec.values, ';').map((t) => {
        const value = parseSchedule(t);
        return {
          label: `${title}: ${formatSchedule(value)}`,
          setting: { kind: 'lora-schedule', adapterName, value },
        };
      });
      return { ...base, adapterName, values: checkCount(spec, values) };
    }
    case 'prompt-sr': {
      const tokens = splitAxisValues(spec.values);
      const search = tokens[0];
      if (search === undefined || search === '') {
        throw invalid(
          'Prompt S/R axis: the first value is the text to search for in the prompt; it cannot be empty.',
          { kind: spec.kind },
        );
      }
      values = tokens.map((value) => ({ label: value, setting: { kind: 'prompt-sr', search, value } }));
      break;
    }
    default:
      throw invalid(`Unknown X/Y axis kind "${String(spec.kind)}"; use one of ${XY_AXIS_KINDS.join(', ')}.`, {
        kind: spec.kind,
      });
  }
  return { ...base, values: checkCount(spec, values) };
}

function checkCount(spec: XyAxisSpec, values: XyAxisValue[]): XyAxisValue[] {
  if (values.length === 0) {
    throw invalid(`${axisTitle(spec)} axis has no values; type some, e.g. ${exampleValues(spec.kind)}.`, {
      kind: spec.kind,
    });
  }
  if (values.length > MAX_AXIS_VALUES) throw tooMany(spec.values, values.length);
  return values;
}

/** An example of the value text of each kind, for placeholders and messages. */
export function exampleValues(kind: XyAxisKind): string {
  switch (kind) {
    case 'none':
      return '';
    case 'seed':
      return '1, 2, 3';
    case 'steps':
      return '10-30 (+10)';
    case 'guidance':
      return '3-9 [3]';
    case 'scheduler':
      return 'euler, euler-a, dpmpp-2m-karras';
    case 'lora-weight':
      return '0, 0.5, 1';
    case 'lora-schedule':
      return '1; 0@0,1@0.5; 1@0,0@1';
    case 'scale':
      return '0-1 (+0.25)';
    case 'prompt-sr':
      return 'cat, dog, "red fox"';
  }
}

function csvQuote(v: string): string {
  return v === '' || /[",]/.test(v) || v.trim() !== v ? `"${v.replaceAll('"', '""')}"` : v;
}

/** The axis' values written so that `parseAxis` reads the same values back (for the PNG's `X Values`). */
export function formatAxisValues(axis: XyAxis): string {
  const settings = axis.values.flatMap((v) => (v.setting ? [v.setting] : []));
  return settings
    .map((s) => {
      switch (s.kind) {
        case 'lora-schedule':
          return formatSchedule(s.value);
        case 'prompt-sr':
          return csvQuote(s.value);
        default:
          return String(s.value);
      }
    })
    .join(axis.kind === 'lora-schedule' ? '; ' : ', ');
}

export interface XyCell {
  /** Row-major position: `row * columns + column`. */
  index: number;
  column: number;
  row: number;
  /** The X setting then the Y setting (a `none` axis adds nothing). */
  settings: XySetting[];
}

export interface XyPlan {
  x: XyAxis;
  y: XyAxis;
  columns: number;
  rows: number;
  cells: XyCell[];
  /** One per column (X values); all '' for a `none` axis. */
  columnLabels: string[];
  /** One per row (Y values). */
  rowLabels: string[];
}

/** What a setting changes, so that two axes setting the same thing are refused. */
function target(axis: XyAxis): string | null {
  const first = axis.values[0]?.setting;
  if (!first) return null;
  if (first.kind === 'lora-weight' || first.kind === 'lora-schedule')
    return `${first.kind}:${first.adapterName}`;
  if (first.kind === 'prompt-sr') return `prompt-sr:${first.search}`;
  return first.kind;
}

/**
 * Every X value crossed with every Y value, row-major. Refuses two axes that set the same thing
 * and a plot over `MAX_XY_CELLS` cells. With `prompt`, checks that a Prompt S/R search text occurs
 * in it (otherwise every cell would be the same image).
 */
export function planXyGrid(x: XyAxis, y: XyAxis, context: { prompt?: string } = {}): XyPlan {
  const tx = target(x);
  if (tx !== null && tx === target(y)) {
    throw invalid(`X and Y both set ${x.title}; choose a different setting for one of them.`, {
      x: x.kind,
      y: y.kind,
    });
  }
  const columns = x.values.length;
  const rows = y.values.length;
  if (columns * rows > MAX_XY_CELLS) {
    throw invalid(
      `${columns} x ${rows} = ${columns * rows} cells is more than the ${MAX_XY_CELLS} one plot may have; use fewer values.`,
      { columns, rows },
    );
  }
  if (context.prompt !== undefined) {
    for (const axis of [x, y]) {
      const s = axis.values[0]?.setting;
      if (s?.kind === 'prompt-sr' && !context.prompt.includes(s.search)) {
        throw invalid(
          `Prompt S/R: "${s.search}" does not occur in the prompt; its first value must be text from the prompt.`,
          { search: s.search },
        );
      }
    }
  }
  const cells: XyCell[] = [];
  for (let row = 0; row < rows; row++) {
    for (let column = 0; column < columns; column++) {
      const settings = [x.values[column]!.setting, y.values[row]!.setting].filter(
        (s): s is XySetting => s !== null,
      );
      cells.push({ index: row * columns + column, column, row, settings });
    }
  }
  return {
    x,
    y,
    columns,
    rows,
    cells,
    columnLabels: x.values.map((v) => v.label),
    rowLabels: y.values.map((v) => v.label),
  };
}

/** A prompt with every Prompt S/R setting of a cell applied (each replaces all occurrences). */
export function cellPrompt(prompt: string, settings: readonly XySetting[]): string {
  return settings.reduce((p, s) => (s.kind === 'prompt-sr' ? p.replaceAll(s.search, s.value) : p), prompt);
}

/**
 * The entries A1111's X/Y/Z plot adds to a grid's infotext (`Script`, `X Type`, `X Values`, ...),
 * for the `extra` of `formatGenerationParams`. A `none` axis writes nothing.
 */
export function xyInfotextEntries(plan: Pick<XyPlan, 'x' | 'y'>): Record<string, string> {
  const out: Record<string, string> = { Script: 'X/Y plot' };
  for (const [name, axis] of [
    ['X', plan.x],
    ['Y', plan.y],
  ] as const) {
    if (axis.kind === 'none') continue;
    out[`${name} Type`] = axis.title;
    out[`${name} Values`] = formatAxisValues(axis);
  }
  return out;
}
