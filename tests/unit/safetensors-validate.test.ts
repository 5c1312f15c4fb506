/** Each header check fails with a LorafuseError whose message names the file, the tensor and the fault. */
import { describe, expect, it } from 'vitest';
import { parseHeader, readSafetensors, writeSafetensors } from '../../src/core/io/safetensors.ts';
import { LorafuseError } from '../../src/errors.ts';

const FILE = 'bad.safetensors';

/** A file from raw header text (unpadded), `data` bytes, and an optional forced length field. */
function build(header: string | object, data = 0, lengthField?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data);
  new DataView(out.buffer).setBigUint64(0, lengthField ?? BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

function fails(bytes: Uint8Array, message: RegExp, code = 'safetensors-invalid'): LorafuseError {
  try {
    readSafetensors(bytes, FILE);
  } catch (e) {
    expect(e).toBeInstanceOf(LorafuseError);
    const err = e as LorafuseError;
    expect(err.code).toBe(code);
    expect(err.message).toMatch(message);
    expect(err.details.file).toBe(FILE);
    return err;
  }
  throw new Error(`expected ${message} to be thrown`);
}

const t = (dtype: string, shape: unknown, offsets: unknown) => ({ dtype, shape, data_offsets: offsets });

describe('safetensors header validation', () => {
  it('accepts a well-formed file', () => {
    const f = readSafetensors(build({ a: t('F32', [2], [0, 8]), b: t('F16', [1], [8, 10]) }, 10), FILE);
    expect(f.names()).toEqual(['a', 'b']);
  });

  it('rejects short files and bad length fields', () => {
    fails(new Uint8Array(5), /bad\.safetensors: the file is 5 bytes, shorter than the 8-byte header/);
    fails(build({}, 0, 100_000_001n), /header length 100000001 exceeds the 100000000-byte limit/);
    fails(build({}, 0, 2n ** 60n), /exceeds the 100000000-byte limit/);
    fails(build({}, 0, 50n), /header length 50 runs past the end of the 10-byte file/);
  });

  it('rejects non-UTF-8, non-JSON and non-object headers', () => {
    const bytes = build('{"a":"\u00e9"}');
    bytes[14] = 0xff;
    fails(bytes, /not valid UTF-8/);
    fails(build('{"a":'), /not valid JSON/);
    fails(build('[1, 2]'), /does not start with '\{'/);
    fails(build(' {}'), /does not start with '\{'/);
  });

  it('rejects malformed entries, naming the tensor', () => {
    fails(build({ w: 3 }), /tensor 'w': entry is not an object/);
    fails(build({ w: { dtype: 'F32', shape: [1] } }), /tensor 'w': entry has no 'data_offsets'/);
    fails(build({ w: { ...t('F32', [1], [0, 4]), extra: 1 } }, 4), /tensor 'w': unexpected key 'extra'/);
    fails(build({ w: t('F33', [1], [0, 4]) }, 4), /tensor 'w': unknown dtype "F33"/);
    fails(build({ w: t('F32', [-1], [0, 4]) }, 4), /tensor 'w': shape \[-1\] is not a list of non-negative/);
    fails(build({ w: t('F32', [1.5], [0, 4]) }, 4), /tensor 'w': shape/);
    fails(build({ w: t('F32', '1', [0, 4]) }, 4), /tensor 'w': shape/);
    fails(build({ w: t('F32', [1], [0]) }, 4), /tensor 'w': data_offsets \[0\] is not two non-negative/);
    fails(build({ w: t('F32', [1], [0, '4']) }, 4), /tensor 'w': data_offsets/);
    fails(build({ w: t('F32', [0], [4, 0]) }, 4), /tensor 'w': data_offsets \[4, 0\] begin after they end/);
  });

  it('rejects values beyond Number.MAX_SAFE_INTEGER', () => {
    fails(
      build('{"w":{"dtype":"U8","shape":[1],"data_offsets":[9007199254740993,9007199254740994]}}', 1),
      /'w'/,
    );
    fails(build('{"w":{"dtype":"U8","shape":[9007199254740993],"data_offsets":[0,1]}}', 1), /'w': shape/);
    fails(build({ w: t('F64', [2 ** 30, 2 ** 30], [0, 8]) }, 8), /'w': shape \[.*\] x F64 .* needs/);
  });

  it('rejects a byte count that does not match shape x dtype', () => {
    const e = fails(
      build({ w: t('F32', [2, 3], [0, 12]) }, 12),
      /tensor 'w': shape \[2, 3\] x F32 \(4 bytes\) needs 24 bytes but data_offsets \[0, 12\] span 12/,
    );
    expect(e.details.tensor).toBe('w');
  });

  it('rejects offsets outside the data section, overlaps, gaps and trailing bytes', () => {
    fails(
      build({ w: t('F32', [2], [0, 8]) }, 4),
      /tensor 'w': data_offsets \[0, 8\] end past the 4-byte data section/,
    );
    fails(
      build({ a: t('F32', [2], [0, 8]), b: t('F32', [1], [4, 8]) }, 8),
      /tensor 'b': data_offsets \[4, 8\] overlap tensor 'a'/,
    );
    fails(
      build({ a: t('F32', [1], [0, 4]), b: t('F32', [1], [8, 12]) }, 12),
      /tensor 'b': .* gap of 4 bytes/,
    );
    fails(build({ a: t('F32', [1], [4, 8]) }, 8), /tensor 'a': .* gap of 4 bytes/);
    fails(build({ a: t('F32', [1], [0, 4]) }, 6), /tensors cover 4 bytes of the 6-byte data section/);
    fails(build({}, 1), /cover 0 bytes of the 1-byte/);
  });

  it('accepts zero-size tensors anywhere in the tiling', () => {
    const f = readSafetensors(
      build({ z: t('F32', [0, 3], [4, 4]), a: t('F32', [1], [0, 4]), y: t('I8', [0], [0, 0]) }, 4),
      FILE,
    );
    expect(f.float32('z').length).toBe(0);
  });

  it('checks __metadata__ is a string -> string map', () => {
    fails(build({ __metadata__: { a: 1 } }), /__metadata__ key 'a' is a number, expected a string/);
    fails(build({ __metadata__: ['a'] }), /__metadata__ is not an object/);
    fails(build({ __metadata__: 'x' }), /__metadata__ is not an object/);
    expect(readSafetensors(build({ __metadata__: { __proto__x: 'y' } }), FILE).header.metadata).toEqual({
      __proto__x: 'y',
    });
  });

  it('refuses pickle and zip checkpoints with a conversion hint', () => {
    const zip = new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0x14, 0, 0, 0, 8, 0, 0, 0, 0, 0]);
    fails(zip, /PyTorch pickle\/zip checkpoint.*Convert it to \.safetensors/, 'pickle-refused');
    // torch legacy format: pickle protocol 2 and its magic number
    fails(
      new Uint8Array([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20]),
      /bad\.safetensors: .*pickle/,
      'pickle-refused',
    );
    fails(new Uint8Array([0x80, 0x04, 0x95]), /pickle/, 'pickle-refused');
  });

  it('does not mistake a safetensors length that reads like pickle magic (0x0280 = 640)', () => {
    const json = JSON.stringify({ w: t('U8', [1], [0, 1]) });
    const bytes = build(json.padEnd(640, ' '), 1);
    expect(bytes[0]).toBe(0x80);
    expect(bytes[1]).toBe(0x02);
    expect(readSafetensors(bytes, FILE).names()).toEqual(['w']);
    // with only the 8 length bytes in hand, the magic proves nothing: ask for the header bytes
    expect(() => parseHeader(bytes.subarray(0, 8), bytes.length, FILE)).toThrow(/needs the first 648/);
  });

  it('parseHeader works on a prefix, given the full file size', () => {
    const file = writeSafetensors([{ name: 'w', dtype: 'F32', shape: [4], data: new Float32Array(4) }]);
    const h = parseHeader(file.subarray(0, file.length - 16), file.length, FILE);
    expect(h.tensors.get('w')).toEqual({ name: 'w', dtype: 'F32', shape: [4], begin: 0, end: 16 });
    expect(h.dataOffset).toBe(file.length - 16);
    expect(() => parseHeader(file.subarray(0, 10), file.length, FILE)).toThrow(LorafuseError);
  });
});
