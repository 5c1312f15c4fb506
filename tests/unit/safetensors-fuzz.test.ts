/**
 * Fuzzing: valid small files, mutated (length field, JSON bytes, truncation, insertion, structured
 * field changes, data truncation, appended bytes). Every read either returns a file whose tensors
 * are consistent, or throws a LorafuseError with a safetensors code; nothing else, nothing hangs.
 * `openSafetensors` over a bufferSource must agree with `readSafetensors` on every input.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Dtype } from '../../src/core/io/safetensors.ts';
import {
  bufferSource,
  DTYPES,
  dtypeSize,
  openSafetensors,
  readSafetensors,
  writeSafetensors,
} from '../../src/core/io/safetensors.ts';
import { LorafuseError } from '../../src/errors.ts';

const CODES = new Set(['safetensors-invalid', 'pickle-refused']);

const tensorArb = fc.record({
  dtype: fc.constantFrom(...DTYPES),
  shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
});

const validFile = fc
  .record({
    tensors: fc.array(tensorArb, { maxLength: 4 }),
    metadata: fc.option(
      fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 6 }), { maxKeys: 2 }),
    ),
  })
  .map(({ tensors, metadata }) =>
    writeSafetensors(
      tensors.map((t, i) => ({
        name: `t${i}.weight`,
        dtype: t.dtype as Dtype,
        shape: t.shape,
        data: new Uint8Array(t.shape.reduce((a, d) => a * d, dtypeSize(t.dtype as Dtype))).fill(i + 1),
      })),
      metadata ?? undefined,
    ),
  );

const headerLen = (f: Uint8Array) =>
  f.length >= 8 ? new DataView(f.buffer, f.byteOffset).getUint32(0, true) : 0;

function setLen(f: Uint8Array, n: number): Uint8Array {
  if (f.length >= 8) new DataView(f.buffer, f.byteOffset).setUint32(0, n >>> 0, true);
  return f;
}

function splice(f: Uint8Array, at: number, remove: number, insert: Uint8Array): Uint8Array {
  const at0 = Math.min(at, f.length);
  const rm = Math.min(remove, f.length - at0);
  const out = new Uint8Array(f.length - rm + insert.length);
  out.set(f.subarray(0, at0));
  out.set(insert, at0);
  out.set(f.subarray(at0 + rm), at0 + insert.length);
  return out;
}

/** Rewrites the header JSON through `edit`, keeping the data bytes. */
function editJson(f: Uint8Array, edit: (h: Record<string, Record<string, unknown>>) => void): Uint8Array {
  const n = headerLen(f);
  let h: Record<string, Record<string, unknown>>;
  try {
    h = JSON.parse(new TextDecoder().decode(f.subarray(8, 8 + n)));
  } catch {
    return f; // an earlier mutation already broke the JSON
  }
  edit(h);
  const json = new TextEncoder().encode(JSON.stringify(h));
  return setLen(splice(f, 8, n, json), json.length);
}

const weird = fc.oneof(
  fc.integer({ min: -5, max: 300 }),
  fc.constantFrom(1.5, -0, 2 ** 53 + 2, 1e300, '3', null, [], {}, true, 'F32', 'F7'),
);

type Mutation = (f: Uint8Array) => Uint8Array;
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ i: fc.nat(7), b: fc.nat(255) }).map(({ i, b }) => (f: Uint8Array) => {
    const g = f.slice();
    if (i < g.length) g[i] = b;
    return g;
  }),
  fc.record({ i: fc.nat(), bit: fc.nat(7) }).map(({ i, bit }) => (f: Uint8Array) => {
    const g = f.slice();
    const n = Math.max(1, Math.min(headerLen(f), g.length - 8));
    if (g.length > 8) g[8 + (i % n)]! ^= 1 << bit;
    return g;
  }),
  fc.nat().map((i) => (f: Uint8Array) => f.slice(0, i % (f.length + 1))),
  fc.record({ i: fc.nat(), k: fc.integer({ min: 1, max: 12 }) }).map(({ i, k }) => (f: Uint8Array) => {
    const n = headerLen(f);
    return setLen(splice(f, 8 + (i % (n + 1)), k, new Uint8Array(0)), n - k);
  }),
  fc
    .record({ i: fc.nat(), ins: fc.uint8Array({ minLength: 1, maxLength: 8 }) })
    .map(({ i, ins }) => (f: Uint8Array) => {
      const n = headerLen(f);
      return setLen(splice(f, 8 + (i % (n + 1)), 0, ins), n + ins.length);
    }),
  fc
    .record({
      t: fc.nat(),
      field: fc.constantFrom('dtype', 'shape', 'data_offsets', '__metadata__'),
      v: weird,
      j: fc.nat(2),
    })
    .map(
      ({ t, field, v, j }) =>
        (f: Uint8Array) =>
          editJson(f, (h) => {
            const names = Object.keys(h);
            if (field === '__metadata__') {
              (h as Record<string, unknown>).__metadata__ = typeof v === 'object' ? v : { k: v };
              return;
            }
            const e = h[names[t % Math.max(1, names.length)] ?? ''];
            if (!e || typeof e !== 'object') return;
            const cur = e[field];
            if (Array.isArray(cur) && cur.length > 0 && typeof v === 'number') {
              const arr = [...cur];
              arr[j % arr.length] = (arr[j % arr.length] as number) + v;
              e[field] = arr;
            } else e[field] = v;
          }),
    ),
  fc.record({ t: fc.nat(), dtype: fc.constantFrom(...DTYPES) }).map(
    ({ t, dtype }) =>
      (f: Uint8Array) =>
        editJson(f, (h) => {
          const e = h[Object.keys(h)[t % Math.max(1, Object.keys(h).length)] ?? ''];
          if (e && typeof e === 'object' && 'dtype' in e) e.dtype = dtype;
        }),
  ),
  fc.nat(16).map((k) => (f: Uint8Array) => f.slice(0, Math.max(0, f.length - k))),
  fc
    .uint8Array({ minLength: 1, maxLength: 16 })
    .map((extra) => (f: Uint8Array) => splice(f, f.length, 0, extra)),
);

const mutated = fc
  .tuple(validFile, fc.array(mutation, { minLength: 1, maxLength: 3 }))
  .map(([f, ms]) => ms.reduce<Uint8Array>((g, m) => m(g), f));

type Outcome = { ok: true; names: string[] } | { ok: false; code: string; message: string };

function check(bytes: Uint8Array): Outcome {
  try {
    const f = readSafetensors(bytes, 'fuzz.safetensors');
    let covered = 0;
    for (const name of f.names()) {
      const info = f.info(name);
      const n = info.shape.reduce((a, d) => a * d, 1);
      expect(f.raw(name).byteLength).toBe(n * dtypeSize(info.dtype));
      expect(f.float32(name).length).toBe(n);
      covered += info.end - info.begin;
    }
    expect(f.header.dataOffset + covered).toBe(bytes.length);
    return { ok: true, names: f.names() };
  } catch (e) {
    if (!(e instanceof LorafuseError)) throw new Error(`not a LorafuseError: ${String(e)}`, { cause: e });
    if (!CODES.has(e.code)) throw new Error(`unexpected code ${e.code}: ${e.message}`);
    expect(e.message).toMatch(/^fuzz\.safetensors: /);
    return { ok: false, code: e.code, message: e.message };
  }
}

describe('safetensors fuzz', () => {
  it('valid files always read', () => {
    fc.assert(
      fc.property(validFile, (f) => {
        expect(check(f).ok).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('10,000 mutated files: a consistent result or a safetensors LorafuseError', () => {
    let rejected = 0;
    let accepted = 0;
    fc.assert(
      fc.property(mutated, (bytes) => {
        if (check(bytes).ok) accepted++;
        else rejected++;
      }),
      { numRuns: 10_000 },
    );
    // the mutations must actually exercise both paths
    expect(rejected).toBeGreaterThan(5000);
    expect(accepted).toBeGreaterThan(50);
  });

  it('openSafetensors agrees with readSafetensors on 2,000 mutated files', async () => {
    await fc.assert(
      fc.asyncProperty(mutated, async (bytes) => {
        const want = check(bytes);
        let got: Outcome;
        try {
          const r = await openSafetensors(bufferSource(bytes, 'fuzz.safetensors'));
          got = { ok: true, names: r.names() };
        } catch (e) {
          if (!(e instanceof LorafuseError)) throw e;
          got = { ok: false, code: e.code, message: e.message };
        }
        expect(got).toEqual(want);
      }),
      { numRuns: 2000 },
    );
  });
});
