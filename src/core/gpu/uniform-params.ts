/**
 * The `struct Params` uniform of a kernel, described once in TypeScript and packed from it. The
 * field order is the descriptor's key order; offsets, alignment and the struct's size are
 * computed here and nowhere else (WGSL uniform layout: each field at a multiple of its
 * alignment, the struct size rounded up to 16 bytes).
 */
import { LorafuseError } from '../../errors.ts';

export const PARAM_TYPES = {
  u32: { size: 4, align: 4 },
  i32: { size: 4, align: 4 },
  f32: { size: 4, align: 4 },
} as const;

export type ParamType = keyof typeof PARAM_TYPES;
export type ParamsSpec = Readonly<Record<string, ParamType>>;
export type ParamValues<P extends ParamsSpec> = { readonly [K in keyof P]: number };

/** WGSL requires a uniform buffer's struct size to be a multiple of 16. */
const UNIFORM_STRUCT_ALIGN = 16;

export interface ParamField {
  name: string;
  type: ParamType;
  offset: number;
}

export interface ParamsLayout {
  fields: ParamField[];
  byteSize: number;
}

const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;

export function paramsLayout(spec: ParamsSpec): ParamsLayout {
  const fields: ParamField[] = [];
  let offset = 0;
  for (const [name, type] of Object.entries(spec)) {
    const t = PARAM_TYPES[type];
    offset = alignUp(offset, t.align);
    fields.push({ name, type, offset });
    offset += t.size;
  }
  return { fields, byteSize: Math.max(UNIFORM_STRUCT_ALIGN, alignUp(offset, UNIFORM_STRUCT_ALIGN)) };
}

function checkValue(kernel: string, name: string, type: ParamType, v: unknown): number {
  const bad = (expected: string) =>
    new LorafuseError(
      'invalid-argument',
      `Kernel "${kernel}": param "${name}" must be ${expected}, got ${String(v)}.`,
      { kernel, param: name, value: v },
    );
  if (typeof v !== 'number' || Number.isNaN(v)) throw bad(`a ${type} number`);
  if (type === 'u32' && !(Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff))
    throw bad('an integer in [0, 2^32)');
  if (type === 'i32' && !(Number.isInteger(v) && v >= -0x8000_0000 && v <= 0x7fff_ffff))
    throw bad('an integer in [-2^31, 2^31)');
  return v;
}

/** Packs `values` into the bytes of the uniform buffer; unknown or missing fields are errors. */
export function packParams<P extends ParamsSpec>(
  kernel: string,
  layout: ParamsLayout,
  values: ParamValues<P>,
): ArrayBuffer {
  const buf = new ArrayBuffer(layout.byteSize);
  const view = new DataView(buf);
  const given = values as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!layout.fields.some((f) => f.name === key)) {
      throw new LorafuseError('invalid-argument', `Kernel "${kernel}" has no param "${key}".`, {
        kernel,
        key,
      });
    }
  }
  for (const { name, type, offset } of layout.fields) {
    const v = checkValue(kernel, name, type, given[name]);
    if (type === 'u32') view.setUint32(offset, v, true);
    else if (type === 'i32') view.setInt32(offset, v, true);
    else view.setFloat32(offset, v, true);
  }
  return buf;
}
