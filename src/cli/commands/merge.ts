/**
 * `lorafuse merge A.safetensors[:W] B.safetensors[:W] ... --method M [--density D]
 * [--majority-sign total|frequency] [--svd-rank R] [--svd-clamp Q] [--seed S]
 * --base DIR_OR_REPO -o OUT.safetensors`: PEFT's `add_weighted_adapter` on LoRA files
 * (core/lora/combine), written as a PEFT-format adapter whose alpha equals its rank (scale 1).
 * A weight defaults to 1 and is read after the last ':' of an argument when that is a number.
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import {
  COMBINATION_TYPES,
  type CombinationType,
  type CombineOptions,
  combineAdapters,
  type MajoritySignMethod,
  needsDensity,
} from '../../core/lora/combine/index.ts';
import { writePeft } from '../../core/lora/write/peft.ts';
import { LorafuseError } from '../../errors.ts';
import { openBaseModel } from '../base-model.ts';
import { readLoraFile } from '../lora-file.ts';

const USAGE =
  'usage: lorafuse merge A.safetensors[:W] B.safetensors[:W] ... --method M [--density D] ' +
  '[--majority-sign total|frequency] [--svd-rank R] [--svd-clamp Q] [--seed S] --base DIR_OR_REPO -o OUT.safetensors';

/** `path[:weight]`; a suffix that is not a number stays part of the path. */
export function parseWeighted(arg: string): { file: string; weight: number } {
  const at = arg.lastIndexOf(':');
  if (at > 0) {
    const suffix = arg.slice(at + 1);
    const w = Number(suffix);
    if (suffix.trim() !== '' && Number.isFinite(w)) return { file: arg.slice(0, at), weight: w };
    if (!arg.endsWith('.safetensors')) {
      throw new LorafuseError(
        'invalid-argument',
        `'${arg}': the weight after ':' must be a number (e.g. lora.safetensors:0.7)`,
        { argument: arg },
      );
    }
  }
  return { file: arg, weight: 1 };
}

function numberOption(name: string, value: string | undefined, integer = false): number | undefined {
  if (value === undefined) return undefined;
  const x = Number(value);
  if (value.trim() === '' || !Number.isFinite(x) || (integer && !Number.isSafeInteger(x))) {
    throw new LorafuseError(
      'invalid-argument',
      `--${name} '${value}' is not ${integer ? 'an integer' : 'a number'}`,
      { [name]: value },
    );
  }
  return x;
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      method: { type: 'string' },
      density: { type: 'string' },
      'majority-sign': { type: 'string' },
      'svd-rank': { type: 'string' },
      'svd-clamp': { type: 'string' },
      seed: { type: 'string' },
      base: { type: 'string' },
      output: { type: 'string', short: 'o' },
    },
  });
  if (positionals.length === 0 || !values.method || !values.base || !values.output) {
    throw new LorafuseError(
      'invalid-argument',
      `${USAGE}\n(at least one LoRA file, --method, --base and -o are required)`,
    );
  }
  const method = values.method as CombinationType;
  if (!COMBINATION_TYPES.includes(method)) {
    throw new LorafuseError(
      'invalid-argument',
      `--method '${values.method}' is not one of ${COMBINATION_TYPES.join(', ')}`,
      { method: values.method },
    );
  }
  const sign = values['majority-sign'];
  if (sign !== undefined && sign !== 'total' && sign !== 'frequency') {
    throw new LorafuseError(
      'invalid-argument',
      `--majority-sign must be 'total' or 'frequency', got '${sign}'`,
      {
        majoritySign: sign,
      },
    );
  }
  const density = numberOption('density', values.density);
  const svdRank = numberOption('svd-rank', values['svd-rank'], true);
  const svdClamp = numberOption('svd-clamp', values['svd-clamp']);
  const seed = numberOption('seed', values.seed, true);
  const inputs = positionals.map(parseWeighted);
  const options: CombineOptions = {
    combinationType: method,
    ...(density === undefined ? {} : { density }),
    ...(sign === undefined ? {} : { majoritySignMethod: sign as MajoritySignMethod }),
    ...(svdRank === undefined ? {} : { svdRank }),
    ...(svdClamp === undefined ? {} : { svdClamp }),
    ...(seed === undefined ? {} : { seed }),
  };
  const base = await openBaseModel(values.base);
  const adapters = [];
  for (const { file } of inputs) adapters.push(await readLoraFile(file, base.target));
  const merged = combineAdapters(
    adapters,
    inputs.map((i) => i.weight),
    options,
  );
  await writeFile(values.output, writePeft(merged, { inventories: base.inventories }));
  const used = inputs.length === 1 ? 'linear (one input)' : method;
  const notes: string[] = [];
  if (density !== undefined && density >= 1 && needsDensity(method))
    notes.push('density >= 1: nothing pruned');
  if (method.startsWith('dare') && inputs.length > 1) notes.push(`seed ${seed ?? 0}`);
  const ranks = [...new Set(merged.modules.map((m) => m.rank))].join('/');
  console.log(
    `${values.output}: ${merged.modules.length} modules, rank ${ranks}, ${used} of ${inputs
      .map((i) => `${i.file}:${i.weight}`)
      .join(', ')}${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`,
  );
  return 0;
}
