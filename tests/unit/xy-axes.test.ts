/**
 * X/Y plot axes: A1111's value syntax (lists, ranges with a step or a count, quotes), each axis
 * kind's checks, the plan of cells and the infotext entries. Expected values are worked out by
 * hand (examples) or by an independent loop (properties).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  cellPrompt,
  formatAxisValues,
  MAX_AXIS_VALUES,
  parseAxis,
  parseNumberValues,
  parseSchedulerValue,
  planXyGrid,
  splitAxisValues,
  type XyAxisSpec,
  xyInfotextEntries,
} from '../../src/core/pipeline/xy-axes.ts';
import { LorafuseError } from '../../src/errors.ts';

describe('splitAxisValues', () => {
  it('splits at commas, trims, drops blanks', () => {
    expect(splitAxisValues(' 0, 0.5 ,1,, ')).toEqual(['0', '0.5', '1']);
    expect(splitAxisValues('')).toEqual([]);
  });

  it('keeps commas and spaces inside double quotes; "" is a quote', () => {
    expect(splitAxisValues('cat, "red, fox", " x ", "say ""hi"""')).toEqual([
      'cat',
      'red, fox',
      ' x ',
      'say "hi"',
    ]);
  });

  it('splits schedules at ;', () => {
    expect(splitAxisValues('1; 0@0,1@0.5 ;1@0,0@1', ';')).toEqual(['1', '0@0,1@0.5', '1@0,0@1']);
  });

  it('refuses an unclosed quote and text after a closing quote', () => {
    expect(() => splitAxisValues('"a, b')).toThrow(/not closed/);
    expect(() => splitAxisValues('"a" b, c')).toThrow(/follows a closing quote/);
  });
});

describe('parseNumberValues', () => {
  const cases: [string, boolean, number[]][] = [
    ['0, 0.5, 1', false, [0, 0.5, 1]],
    ['-1, .5, 2e-1', false, [-1, 0.5, 0.2]],
    ['1-5', true, [1, 2, 3, 4, 5]],
    ['5-1', true, [5, 4, 3, 2, 1]],
    ['1-10 (+3)', true, [1, 4, 7, 10]],
    ['10-1 (-4)', true, [10, 6, 2]],
    ['1-3 [3]', true, [1, 2, 3]],
    // linspace 1, 2.5, 4 truncated like numpy's astype(int)
    ['1-4 [3]', true, [1, 2, 4]],
    ['0-1 (+0.25)', false, [0, 0.25, 0.5, 0.75, 1]],
    ['0-1 [5]', false, [0, 0.25, 0.5, 0.75, 1]],
    ['0-0.3 (+0.1)', false, [0, 0.1, 0.2, 0.3]],
    ['-1-1 (+0.5)', false, [-1, -0.5, 0, 0.5, 1]],
    ['-2--1 [3]', false, [-2, -1.5, -1]],
    ['2-2', true, [2]],
    ['7-9 [1]', true, [7]],
    ['1, 3-4, 1', true, [1, 3, 4, 1]],
  ];
  it.each(cases)('%s (integer %s)', (text, integer, expected) => {
    expect(parseNumberValues(text, { integer })).toEqual(expected);
  });

  it('refuses what is not a number or a range, saying what to write', () => {
    expect(() => parseNumberValues('a')).toThrow(/"a" is not a number or a range; write e\.g\./);
    expect(() => parseNumberValues('1.5', { integer: true })).toThrow(/whole numbers/);
    expect(() => parseNumberValues('0-1 (+0.5)', { integer: true })).toThrow(/whole-number step/);
    expect(() => parseNumberValues('1-5 (-1)')).toThrow(/points the other way; use 1/);
    expect(() => parseNumberValues('1-5 (+0)')).toThrow(/step 0/);
    expect(() => parseNumberValues('1-5 [0]')).toThrow(/at least 1/);
    expect(() => parseNumberValues('0-10000')).toThrow(LorafuseError);
    expect(() => parseNumberValues(`0-${MAX_AXIS_VALUES}`)).toThrow(/at most 64/);
    expect(parseNumberValues(`1-${MAX_AXIS_VALUES}`)).toHaveLength(MAX_AXIS_VALUES);
  });

  it('an integer range with a step is every value start + k*step up to the end', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -1000, max: 1000 }),
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 1, max: 50 }),
        fc.boolean(),
        (start, span, step, down) => {
          const end = down ? start - span : start + span;
          const s = down ? -step : step;
          const expected: number[] = [];
          for (let v = start; down ? v >= end : v <= end; v += s) expected.push(v);
          fc.pre(expected.length <= MAX_AXIS_VALUES);
          expect(parseNumberValues(`${start}-${end} (${s >= 0 ? '+' : ''}${s})`, { integer: true })).toEqual(
            expected,
          );
        },
      ),
    );
  });

  it('a counted float range has n values, the ends included, evenly spaced', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -100, max: 100 }),
        fc.integer({ min: -100, max: 100 }),
        fc.integer({ min: 2, max: MAX_AXIS_VALUES }),
        (a, b, n) => {
          const start = a / 4;
          const end = b / 4;
          const v = parseNumberValues(`${start}-${end} [${n}]`);
          expect(v).toHaveLength(n);
          expect(v[0]).toBe(start);
          expect(v[n - 1]).toBeCloseTo(end, 10);
          const d = (end - start) / (n - 1);
          // 12 significant digits are kept (tidy), so neighbours differ by d within 1e-9.
          for (let i = 1; i < n; i++) expect(Math.abs(v[i]! - v[i - 1]! - d)).toBeLessThan(1e-9);
        },
      ),
    );
  });
});

describe('parseSchedulerValue', () => {
  it('takes lorafuse names, A1111 sampler names and default', () => {
    expect(parseSchedulerValue('euler-a')).toBe('euler-a');
    expect(parseSchedulerValue('LCM')).toBe('lcm');
    expect(parseSchedulerValue('Euler a')).toBe('euler-a');
    expect(parseSchedulerValue('DPM++ 2M Karras')).toBe('dpmpp-2m-karras');
    expect(parseSchedulerValue('DPM++ 2M')).toBe('dpmpp-2m');
    expect(parseSchedulerValue(' Default ')).toBe('default');
    expect(() => parseSchedulerValue('Heun')).toThrow(/Unknown scheduler "Heun"; use default, euler/);
  });
});

describe('parseAxis', () => {
  it('labels cells A1111 style and builds one setting per value', () => {
    const a = parseAxis({ kind: 'lora-weight', adapterName: 'style', values: '0-1 (+0.5)' });
    expect(a.title).toBe('style weight');
    expect(a.values).toEqual([
      { label: 'style weight: 0', setting: { kind: 'lora-weight', adapterName: 'style', value: 0 } },
      { label: 'style weight: 0.5', setting: { kind: 'lora-weight', adapterName: 'style', value: 0.5 } },
      { label: 'style weight: 1', setting: { kind: 'lora-weight', adapterName: 'style', value: 1 } },
    ]);
    expect(parseAxis({ kind: 'seed', values: '1, 2' }).values.map((v) => v.label)).toEqual([
      'Seed: 1',
      'Seed: 2',
    ]);
  });

  it('parses loractl schedules separated by ;', () => {
    const a = parseAxis({ kind: 'lora-schedule', adapterName: 's', values: '0.5; 0@0,1@0.5' });
    expect(a.values.map((v) => v.setting)).toEqual([
      { kind: 'lora-schedule', adapterName: 's', value: 0.5 },
      {
        kind: 'lora-schedule',
        adapterName: 's',
        value: [
          [0, 0],
          [0.5, 1],
        ],
      },
    ]);
    expect(a.values[1]!.label).toBe('s schedule: 0@0,1@0.5');
  });

  it('Prompt S/R searches for its first value', () => {
    const a = parseAxis({ kind: 'prompt-sr', values: 'cat, "red fox"' });
    expect(a.values).toEqual([
      { label: 'cat', setting: { kind: 'prompt-sr', search: 'cat', value: 'cat' } },
      { label: 'red fox', setting: { kind: 'prompt-sr', search: 'cat', value: 'red fox' } },
    ]);
  });

  it('a none axis has one value that sets nothing, whatever the text', () => {
    expect(parseAxis({ kind: 'none', values: 'ignored' }).values).toEqual([{ label: '', setting: null }]);
  });

  it('refuses values each kind cannot use, naming them', () => {
    expect(() => parseAxis({ kind: 'seed', values: '-1' })).toThrow(/Seed axis: -1 is negative/);
    expect(() => parseAxis({ kind: 'steps', values: '0, 5' })).toThrow(/Steps axis: 0 is below 1/);
    expect(() => parseAxis({ kind: 'steps', values: ' , ' })).toThrow(
      /Steps axis has no values; type some, e\.g\. 10-30/,
    );
    expect(() => parseAxis({ kind: 'lora-weight', values: '1' })).toThrow(/needs the adapter/);
    expect(() => parseAxis({ kind: 'lora-schedule', adapterName: 's', values: '1@x' })).toThrow(
      /not weight@position/,
    );
    expect(() => parseAxis({ kind: 'prompt-sr', values: '"", dog' })).toThrow(/cannot be empty/);
    expect(() => parseAxis({ kind: 'bogus' as never, values: '1' })).toThrow(
      /Unknown X\/Y axis kind "bogus"/,
    );
  });
});

describe('formatAxisValues', () => {
  const specs: XyAxisSpec[] = [
    { kind: 'guidance', values: '3-9 [4]' },
    { kind: 'scheduler', values: 'Euler a, default, DPM++ 2M Karras' },
    { kind: 'lora-schedule', adapterName: 'a', values: '1; 0@0,1@0.5; 1@0,0.2@0.6' },
    { kind: 'prompt-sr', values: 'cat, "dog, big", "say ""hi""", " pad "' },
  ];
  it.each(specs)('parses back to the same values: $kind', (spec) => {
    const axis = parseAxis(spec);
    const again = parseAxis({ ...spec, values: formatAxisValues(axis) });
    expect(again.values).toEqual(axis.values);
  });

  it('numeric values written and read back are the same numbers', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.double({ min: -1e6, max: 1e6, noNaN: true }).map((x) => x + 0),
          {
            minLength: 1,
            maxLength: 10,
          },
        ),
        (xs) => {
          const axis = parseAxis({ kind: 'scale', values: xs.map(String).join(', ') });
          expect(axis.values.map((v) => v.setting?.value)).toEqual(xs);
          expect(parseAxis({ kind: 'scale', values: formatAxisValues(axis) }).values).toEqual(axis.values);
        },
      ),
    );
  });
});

describe('planXyGrid', () => {
  const x = parseAxis({ kind: 'lora-weight', adapterName: 'style', values: '0, 1' });
  const y = parseAxis({ kind: 'seed', values: '1, 2, 3' });

  it('crosses every X value with every Y value, row-major (row = Y, column = X)', () => {
    const p = planXyGrid(x, y);
    expect([p.columns, p.rows, p.cells.length]).toEqual([2, 3, 6]);
    expect(p.columnLabels).toEqual(['style weight: 0', 'style weight: 1']);
    expect(p.rowLabels).toEqual(['Seed: 1', 'Seed: 2', 'Seed: 3']);
    const w = (i: number) => p.cells[i]!.settings.find((s) => s.kind === 'lora-weight')?.value;
    const seed = (i: number) => p.cells[i]!.settings.find((s) => s.kind === 'seed')?.value;
    expect(p.cells.map((_, i) => [w(i), seed(i)])).toEqual([
      [0, 1],
      [1, 1],
      [0, 2],
      [1, 2],
      [0, 3],
      [1, 3],
    ]);
    expect(p.cells.map((c) => [c.index, c.row, c.column])).toEqual([
      [0, 0, 0],
      [1, 0, 1],
      [2, 1, 0],
      [3, 1, 1],
      [4, 2, 0],
      [5, 2, 1],
    ]);
  });

  it('has columns x rows cells, each cell index = row * columns + column, each pair once', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 16 }), (nx, ny) => {
        const ax = parseAxis({ kind: 'seed', values: `1-${nx}` });
        const ay = parseAxis({ kind: 'steps', values: `1-${ny}` });
        const p = planXyGrid(ax, ay);
        expect(p.cells).toHaveLength(nx * ny);
        const seen = new Set<string>();
        for (const c of p.cells) {
          expect(c.index).toBe(c.row * nx + c.column);
          expect(c.settings).toEqual([
            { kind: 'seed', value: c.column + 1 },
            { kind: 'steps', value: c.row + 1 },
          ]);
          seen.add(`${c.row},${c.column}`);
        }
        expect(seen.size).toBe(nx * ny);
      }),
    );
  });

  it('a none axis gives one row (or column) and no setting', () => {
    const p = planXyGrid(x, parseAxis({ kind: 'none', values: '' }));
    expect([p.columns, p.rows]).toEqual([2, 1]);
    expect(p.rowLabels).toEqual(['']);
    expect(p.cells.map((c) => c.settings.length)).toEqual([1, 1]);
  });

  it('refuses two axes that set the same thing; two adapters are fine', () => {
    expect(() => planXyGrid(y, parseAxis({ kind: 'seed', values: '4' }))).toThrow(/X and Y both set Seed/);
    expect(() =>
      planXyGrid(x, parseAxis({ kind: 'lora-weight', adapterName: 'style', values: '2' })),
    ).toThrow(/both set style weight/);
    const other = parseAxis({ kind: 'lora-weight', adapterName: 'other', values: '0, 1' });
    expect(planXyGrid(x, other).cells).toHaveLength(4);
    const sched = parseAxis({ kind: 'lora-schedule', adapterName: 'style', values: '1; 0@0,1@1' });
    expect(planXyGrid(x, sched).cells).toHaveLength(4);
  });

  it('refuses more than 256 cells', () => {
    const a = parseAxis({ kind: 'seed', values: '1-17' });
    const b = parseAxis({ kind: 'steps', values: '1-16' });
    expect(planXyGrid(parseAxis({ kind: 'seed', values: '1-16' }), b).cells).toHaveLength(256);
    expect(() => planXyGrid(a, b)).toThrow(/17 x 16 = 272 cells is more than the 256/);
  });

  it('checks that a Prompt S/R search text is in the prompt, and applies it', () => {
    const sr = parseAxis({ kind: 'prompt-sr', values: 'cat, dog' });
    expect(() => planXyGrid(sr, y, { prompt: 'a photo of a fox' })).toThrow(
      /"cat" does not occur in the prompt/,
    );
    const p = planXyGrid(sr, y, { prompt: 'a cat and a cat' });
    expect(cellPrompt('a cat and a cat', p.cells[0]!.settings)).toBe('a cat and a cat');
    expect(cellPrompt('a cat and a cat', p.cells[1]!.settings)).toBe('a dog and a dog');
  });
});

describe('xyInfotextEntries', () => {
  it('writes A1111 X/Y/Z plot keys with values that parse back', () => {
    const x = parseAxis({ kind: 'lora-weight', adapterName: 'style', values: '0-1 [3]' });
    const y = parseAxis({ kind: 'seed', values: '1, 2' });
    expect(xyInfotextEntries({ x, y })).toEqual({
      Script: 'X/Y plot',
      'X Type': 'style weight',
      'X Values': '0, 0.5, 1',
      'Y Type': 'Seed',
      'Y Values': '1, 2',
    });
    expect(xyInfotextEntries({ x, y: parseAxis({ kind: 'none', values: '' }) })).toEqual({
      Script: 'X/Y plot',
      'X Type': 'style weight',
      'X Values': '0, 0.5, 1',
    });
  });
});
