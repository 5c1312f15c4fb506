/**
 * Infotexts written with A1111's own rules (create_infotext + infotext_utils.quote, run in Python)
 * and the fields A1111's parse_generation_parameters regex and line logic, run in Python, read from
 * them (an empty value, which A1111 skips with an error, is written as ''). Reference data for
 * generation-params.test.ts; not produced by lorafuse code.
 */
export const A1111_PARSED: [string, Record<string, string>][] = [
  [
    ',\r\ncaf\u00e9\r\n\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 306758717, Model: ": \\n,:", Note A: , Note-B/c:',
    {
      Prompt: ',\ncaf\u00e9\n',
      'Negative prompt': '',
      Steps: '20',
      Sampler: 'Euler a',
      'CFG scale': '7',
      Seed: '306758717',
      Model: ': \n,:',
      'Note A': '',
      'Note-B/c': '',
    },
  ],
  [
    '\ufeff"q"\nNegative prompt:  \\  abc<lora:a:1>\ufeff\u2028caf\u00e9\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1615669694, Model: "\\nabc\\r\\n", Note A: "x yNegative prompt:,\\",:<lora:a:1>", Note-B/c: " \u2028\u00a0\u3000\u2028\ufeff\\n\\"q\\""',
    {
      Prompt: '\ufeff"q"',
      'Negative prompt': '\\  abc<lora:a:1>\ufeff\u2028caf\u00e9',
      Steps: '20',
      Sampler: 'Euler a',
      'CFG scale': '7',
      Seed: '1615669694',
      Model: '\nabc\r\n',
      'Note A': 'x yNegative prompt:,",:<lora:a:1>',
      'Note-B/c': ' \u2028\u00a0\u3000\u2028\ufeff\n"q"',
    },
  ],
  [
    'abc\ufeff"q"\ufeff\nNegative prompt: \ufeff \nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1179371151, Model: "\\t\\u001c\\r\\n", Note A: \ufeffabc"q", Note-B/c: "\\nx ySteps: 3, Seed: 4, Model: m \\"\u3000\\u001cSteps: 3, Seed: 4, Model: m\ufeffabc"',
    {
      Prompt: 'abc\ufeff"q"\ufeff',
      'Negative prompt': '\ufeff',
      Steps: '20',
      Sampler: 'Euler a',
      'CFG scale': '7',
      Seed: '1179371151',
      Model: '\t\u001c\r\n',
      'Note A': '\ufeffabc"q"',
      'Note-B/c': '\nx ySteps: 3, Seed: 4, Model: m "\u3000\u001cSteps: 3, Seed: 4, Model: m\ufeffabc',
    },
  ],
  [
    ':\nNegative prompt: \u0085\\\u4eac\u90fdabc<lora:a:1>\u2028\tabc" \nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 2771398994, Model: \\\u3000\u0085"caf\u00e9\t, Note A: "\\t\u4eac\u90fd,\u4eac\u90fdx y", Note-B/c:  \u4eac\u90fd',
    {
      Prompt: ':',
      'Negative prompt': '\\\u4eac\u90fdabc<lora:a:1>\u2028\tabc"',
      Steps: '20',
      Sampler: 'Euler a',
      'CFG scale': '7',
      Seed: '2771398994',
      Model: '\\\u3000\u0085"caf\u00e9\t',
      'Note A': '\t\u4eac\u90fd,\u4eac\u90fdx y',
      'Note-B/c': '\u4eac\u90fd',
    },
  ],
  [
    'Negative prompt: :\u3000\n\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 2838863629, Model:      \\ \u0085, Note A: , Note-B/c:',
    {
      Prompt: '',
      'Negative prompt': ':\n',
      Steps: '20',
      Sampler: 'Euler a',
      'CFG scale': '7',
      Seed: '2838863629',
      Model: '\\ \u0085',
      'Note A': '',
      'Note-B/c': '',
    },
  ],
  [
    ':\u001cSteps: 3, Seed: 4, Model: m\nNegative prompt: \t\u00a0Negative prompt:\n\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 2348753777, Model: "\ufeffx y\ufeff\u00a0\u00a0\\\\\\nabc\ufeff\\u001c", Note A: ":<lora:a:1>\\t\\\\", Note-B/c: \u001c\\',
    {
      Prompt: ':\u001cSteps: 3, Seed: 4, Model: m',
      'Negative prompt': 'Negative prompt:\n',
      Steps: '20',
      Sampler: 'Euler a',
      'CFG scale': '7',
      Seed: '2348753777',
      Model: '\ufeffx y\ufeff\u00a0\u00a0\\\nabc\ufeff\u001c',
      'Note A': ':<lora:a:1>\t\\',
      'Note-B/c': '\\',
    },
  ],
  [
    '\\Steps: 3, Seed: 4, Model: m,Negative prompt:\u001c\nx y\nNegative prompt: "\u00a0\u3000Negative prompt:\u4eac\u90fd\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 2720317377, Model: , Note A: "caf\u00e9,x y\u00a0:\\" ", Note-B/c: " abc\\u001cNegative prompt:\\u001c\\n\\"  "',
    {
      Prompt: '\\Steps: 3, Seed: 4, Model: m,Negative prompt:\nx y',
      'Negative prompt': '"\u00a0\u3000Negative prompt:\u4eac\u90fd',
      Steps: '20',
      Sampler: 'Euler a',
      'CFG scale': '7',
      Seed: '2720317377',
      Model: '',
      'Note A': 'caf\u00e9,x y\u00a0:" ',
      'Note-B/c': ' abc\u001cNegative prompt:\u001c\n"  ',
    },
  ],
  [
    ':<lora:a:1>"q" \nNegative prompt: ,\u00a0\t\ufeff\t\\abcSteps: 3, Seed: 4, Model: m\u2028:\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 2077952663, Model: "<lora:a:1>\\r\\n\u3000 abc  x y:Steps: 3, Seed: 4, Model: m", Note A: "\\r\\n\\"\\\\ \u2028", Note-B/c: "\u4eac\u90fd\\r\\n  \\u001c\\"\u00a0"',
    {
      Prompt: ':<lora:a:1>"q"',
      'Negative prompt': ',\u00a0\t\ufeff\t\\abcSteps: 3, Seed: 4, Model: m\u2028:',
      Steps: '20',
      Sampler: 'Euler a',
      'CFG scale': '7',
      Seed: '2077952663',
      Model: '<lora:a:1>\r\n\u3000 abc  x y:Steps: 3, Seed: 4, Model: m',
      'Note A': '\r\n"\\ \u2028',
      'Note-B/c': '\u4eac\u90fd\r\n  \u001c"\u00a0',
    },
  ],
];
