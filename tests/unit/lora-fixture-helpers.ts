/** Fixture plumbing shared by the writer round-trip and naming-scheme tests. */
import { readFileSync } from 'node:fs';
import { type BaseModel, openBaseModel } from '../../src/cli/base-model.ts';
import { adapterDeltas } from '../../src/cli/commands/delta.ts';
import { readSafetensors } from '../../src/core/io/safetensors.ts';
import type { CanonicalAdapter } from '../../src/core/lora/adapter.ts';
import { convertLora } from '../../src/core/lora/convert.ts';

export const FIX = 'tests/fixtures';

const bases = new Map<string, Promise<BaseModel>>();
export function base(model: string): Promise<BaseModel> {
  let b = bases.get(model);
  if (!b) {
    b = openBaseModel(`${FIX}/${model}`);
    bases.set(model, b);
  }
  return b;
}

/** Converts safetensors bytes against the base, failing on any unmapped key. */
export function convertBytes(bytes: Uint8Array, name: string, b: BaseModel): CanonicalAdapter {
  const file = readSafetensors(bytes, name);
  const a = convertLora({ source: name, tensors: file, metadata: file.header.metadata }, b.target);
  if (a.unmapped.length > 0) throw new Error(`${name}: unmapped ${JSON.stringify(a.unmapped.slice(0, 3))}`);
  return a;
}

export function convertFile(path: string, b: BaseModel): CanonicalAdapter {
  return convertBytes(new Uint8Array(readFileSync(`${FIX}/${path}`)), path, b);
}

export type Deltas = Map<string, { shape: number[]; data: Float32Array }>;

export async function deltas(a: CanonicalAdapter, b: BaseModel, weight = 1): Promise<Deltas> {
  const list = await adapterDeltas(a, b, weight);
  return new Map(list.map((t) => [t.name, { shape: t.shape, data: t.data as Float32Array }]));
}

export function loadDeltas(path: string): Deltas {
  const f = readSafetensors(new Uint8Array(readFileSync(`${FIX}/${path}`)), path);
  return new Map(f.names().map((n) => [n, { shape: f.info(n).shape, data: f.float32(n) }]));
}

/** Same keys and shapes; returns max |a - b| and max |b| over all tensors. */
export function diff(a: Deltas, b: Deltas): { err: number; ref: number; keys: [string[], string[]] } {
  let err = 0;
  let ref = 0;
  for (const [k, e] of b) {
    const x = a.get(k);
    if (!x || x.shape.join() !== e.shape.join())
      return { err: Number.POSITIVE_INFINITY, ref, keys: [[...a.keys()], [...b.keys()]] };
    for (let i = 0; i < e.data.length; i++) {
      err = Math.max(err, Math.abs(x.data[i]! - e.data[i]!));
      ref = Math.max(ref, Math.abs(e.data[i]!));
    }
  }
  return {
    err: a.size === b.size ? err : Number.POSITIVE_INFINITY,
    ref,
    keys: [[...a.keys()].sort(), [...b.keys()].sort()],
  };
}
