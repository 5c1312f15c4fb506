/**
 * Typed field readers for `config.json` objects. Each reader returns the diffusers/transformers
 * default when the key is absent or `null`, and throws `config-invalid` naming the file and the
 * key when the value has the wrong type.
 */
import { LorafuseError } from '../../../errors.ts';

export type JsonObject = Record<string, unknown>;

/** A config object plus the file it came from (for error messages). */
export interface ConfigSource {
  json: JsonObject;
  file: string;
}

export function asConfigObject(json: unknown, file: string): JsonObject {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new LorafuseError('config-invalid', `${file}: expected a JSON object at the top level.`, { file });
  }
  return json as JsonObject;
}

export function invalidField(src: ConfigSource, key: string, expected: string): LorafuseError {
  return new LorafuseError(
    'config-invalid',
    `${src.file}: '${key}' must be ${expected}, got ${JSON.stringify(src.json[key])}. Check the model's config.json.`,
    { file: src.file, key, value: src.json[key] },
  );
}

function present(src: ConfigSource, key: string): boolean {
  return src.json[key] !== undefined && src.json[key] !== null;
}

export function num(src: ConfigSource, key: string, dflt: number): number {
  if (!present(src, key)) return dflt;
  const v = src.json[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalidField(src, key, 'a number');
  return v;
}

export function int(src: ConfigSource, key: string, dflt: number): number {
  const v = num(src, key, dflt);
  if (!Number.isInteger(v)) throw invalidField(src, key, 'an integer');
  return v;
}

export function optInt(src: ConfigSource, key: string): number | null {
  if (!present(src, key)) return null;
  return int(src, key, 0);
}

export function bool(src: ConfigSource, key: string, dflt: boolean): boolean {
  if (!present(src, key)) return dflt;
  const v = src.json[key];
  if (typeof v !== 'boolean') throw invalidField(src, key, 'true or false');
  return v;
}

export function str(src: ConfigSource, key: string, dflt: string): string {
  if (!present(src, key)) return dflt;
  const v = src.json[key];
  if (typeof v !== 'string') throw invalidField(src, key, 'a string');
  return v;
}

export function optStr(src: ConfigSource, key: string): string | null {
  if (!present(src, key)) return null;
  return str(src, key, '');
}

export function strList(src: ConfigSource, key: string, dflt: readonly string[]): string[] {
  if (!present(src, key)) return [...dflt];
  const v = src.json[key];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
    throw invalidField(src, key, 'a list of strings');
  return [...(v as string[])];
}

export function intList(src: ConfigSource, key: string, dflt: readonly number[]): number[] {
  if (!present(src, key)) return [...dflt];
  const v = src.json[key];
  if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x)))
    throw invalidField(src, key, 'a list of integers');
  return [...(v as number[])];
}

/**
 * An int or a per-block list of ints (`attention_head_dim`, `layers_per_block`, ...), broadcast
 * to `n` entries the way diffusers does (`(x,) * len(down_block_types)`).
 */
export function intPerBlock(src: ConfigSource, key: string, dflt: number, n: number): number[] {
  if (!present(src, key)) return new Array<number>(n).fill(dflt);
  const v = src.json[key];
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw invalidField(src, key, 'an integer or a list of integers');
    return new Array<number>(n).fill(v);
  }
  const list = intList(src, key, []);
  if (list.length !== n)
    throw invalidField(src, key, `an integer or a list of ${n} integers (one per block)`);
  return list;
}

/** A bool or a per-block list of bools (`only_cross_attention`). */
export function boolPerBlock(src: ConfigSource, key: string, dflt: boolean, n: number): boolean[] {
  if (!present(src, key)) return new Array<boolean>(n).fill(dflt);
  const v = src.json[key];
  if (typeof v === 'boolean') return new Array<boolean>(n).fill(v);
  if (!Array.isArray(v) || v.length !== n || !v.every((x) => typeof x === 'boolean')) {
    throw invalidField(src, key, `true/false or a list of ${n} booleans (one per block)`);
  }
  return [...(v as boolean[])];
}

export function unsupported(src: ConfigSource, key: string, why: string): LorafuseError {
  return new LorafuseError(
    'not-implemented',
    `${src.file}: '${key}' = ${JSON.stringify(src.json[key])} is not supported (${why}).`,
    { file: src.file, key, value: src.json[key] },
  );
}
