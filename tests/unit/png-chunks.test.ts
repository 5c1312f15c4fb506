import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  crc32,
  encodeChunk,
  insertPngText,
  PARAMETERS_KEYWORD,
  readPngChunks,
  readPngParameters,
  readPngText,
} from '../../src/core/image/png-chunks.ts';
import { encodePng } from '../../src/core/image/png-encode.ts';
import { LorafuseError } from '../../src/errors.ts';
import { chunk, decodePng, randomBytes, walkChunks, writeTestPng } from './png-helpers.ts';

const A1111 = [
  'masterpiece, 1girl, <lora:add_detail:0.6>, looking at viewer',
  'Negative prompt: lowres, bad anatomy',
  'Steps: 25, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234567890, Size: 512x768, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Version: v1.10.1',
].join('\n');

function bytes(s: string, encoding: BufferEncoding): Buffer {
  return Buffer.from(s, encoding);
}

async function expectInvalid(run: () => unknown, message: RegExp): Promise<LorafuseError> {
  const err = await (async () => run())().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LorafuseError);
  expect((err as LorafuseError).code).toBe('invalid-argument');
  expect((err as LorafuseError).message).toMatch(message);
  return err as LorafuseError;
}

describe('crc32 and chunks', () => {
  it('agrees with zlib.crc32 on random buffers and on chained input', () => {
    for (const n of [0, 1, 3, 255, 4096]) {
      const b = randomBytes(n, n + 5);
      expect(crc32(b)).toBe(zlib.crc32(b));
      const half = b.subarray(0, n >> 1);
      expect(crc32(b.subarray(n >> 1), crc32(half))).toBe(zlib.crc32(b));
    }
  });

  it('encodeChunk frames a chunk like an independent writer', () => {
    const data = randomBytes(37, 9);
    expect(Buffer.from(encodeChunk('tEXt', data))).toEqual(chunk('tEXt', data));
  });

  it('readPngChunks lists the chunks of a PNG written by the test', () => {
    const png = writeTestPng(randomBytes(4 * 3 * 4, 2), 4, 3, [0], [chunk('tEXt', bytes('a\0b', 'latin1'))]);
    expect(readPngChunks(png).chunks.map((c) => c.type)).toEqual(['IHDR', 'tEXt', 'IDAT', 'IEND']);
  });
});

describe('reading text chunks', () => {
  it('reads tEXt, zTXt and iTXt (plain and compressed) written by an independent writer', async () => {
    const png = writeTestPng(
      randomBytes(4, 1),
      1,
      1,
      [0],
      [
        chunk('tEXt', bytes(`${PARAMETERS_KEYWORD}\0${A1111}`, 'latin1')),
        chunk(
          'zTXt',
          Buffer.concat([bytes('Comment\0\0', 'latin1'), zlib.deflateSync(bytes('café ©', 'latin1'))]),
        ),
        chunk('iTXt', Buffer.concat([bytes('Title\0\0\0ja\0', 'latin1'), bytes('題名\0猫と犬 🐈', 'utf8')])),
        chunk(
          'iTXt',
          Buffer.concat([bytes('Author\0\x01\0\0\0', 'latin1'), zlib.deflateSync(bytes('Ñandú ✓', 'utf8'))]),
        ),
      ],
    );
    expect(await readPngText(png)).toEqual([
      { keyword: 'parameters', text: A1111, chunk: 'tEXt' },
      { keyword: 'Comment', text: 'café ©', chunk: 'zTXt' },
      { keyword: 'Title', text: '猫と犬 🐈', chunk: 'iTXt', languageTag: 'ja', translatedKeyword: '題名' },
      { keyword: 'Author', text: 'Ñandú ✓', chunk: 'iTXt', languageTag: '', translatedKeyword: '' },
    ]);
    expect(await readPngParameters(png)).toBe(A1111);
  });

  it('returns undefined parameters for a PNG without them', async () => {
    expect(await readPngParameters(await encodePng(randomBytes(4, 3), 1, 1))).toBeUndefined();
  });

  it('names a corrupt compressed text chunk', async () => {
    const png = writeTestPng(
      randomBytes(4, 1),
      1,
      1,
      [0],
      [chunk('zTXt', Buffer.concat([bytes('parameters\0\0', 'latin1'), Buffer.from([1, 2, 3, 4])]))],
    );
    await expectInvalid(
      () => readPngText(png),
      /zTXt chunk at byte 33 \('parameters'\): the compressed data is corrupt/,
    );
  });
});

describe('insertPngText', () => {
  it('writes Latin-1 text as tEXt, byte for byte in Latin-1, before IDAT; the reader gets it back', async () => {
    const base = await encodePng(randomBytes(3 * 5 * 4, 4), 3, 5, { alpha: 'keep' });
    const text = `${A1111}, Note: café ©`;
    const png = insertPngText(base, PARAMETERS_KEYWORD, text);
    const d = decodePng(png); // an independent reader sees a valid PNG with the same pixels
    expect(d.chunkTypes).toEqual(['IHDR', 'tEXt', 'IDAT', 'IEND']);
    expect(d.rgba).toEqual(decodePng(base).rgba);
    const t = d.chunks[1]!.data;
    expect(t.toString('latin1')).toBe(`parameters\0${text}`);
    expect(t.length).toBe('parameters\0'.length + text.length); // one byte per character: Latin-1, not UTF-8
    expect(await readPngParameters(png)).toBe(text);
  });

  it('writes non-Latin-1 text as uncompressed UTF-8 iTXt', async () => {
    const text = 'a cat in Kyoto, 京都の猫 🐈\nSteps: 20, Sampler: Euler a, CFG scale: 7';
    const png = insertPngText(await encodePng(randomBytes(4, 5), 1, 1), PARAMETERS_KEYWORD, text);
    const d = decodePng(png);
    expect(d.chunkTypes).toEqual(['IHDR', 'iTXt', 'IDAT', 'IEND']);
    expect(d.chunks[1]!.data).toEqual(
      Buffer.concat([bytes('parameters\0\0\0\0\0', 'latin1'), bytes(text, 'utf8')]),
    );
    expect(await readPngParameters(png)).toBe(text);
  });

  it('replaces an existing entry with the same keyword, whatever its chunk type, and keeps others', async () => {
    const png = writeTestPng(
      randomBytes(4, 1),
      1,
      1,
      [0],
      [
        chunk(
          'zTXt',
          Buffer.concat([bytes('parameters\0\0', 'latin1'), zlib.deflateSync(bytes('old', 'latin1'))]),
        ),
        chunk('tEXt', bytes('Software\0other tool', 'latin1')),
        chunk('iTXt', Buffer.concat([bytes('parameters\0\0\0\0\0', 'latin1'), bytes('older ✓', 'utf8')])),
      ],
    );
    const out = insertPngText(png, PARAMETERS_KEYWORD, 'new');
    expect(await readPngText(out)).toEqual([
      { keyword: 'Software', text: 'other tool', chunk: 'tEXt' },
      { keyword: 'parameters', text: 'new', chunk: 'tEXt' },
    ]);
  });

  it('keeps bytes that follow IEND', async () => {
    const png = Buffer.concat([await encodePng(randomBytes(4, 6), 1, 1), Buffer.from('trailer')]);
    const out = insertPngText(png, PARAMETERS_KEYWORD, 'x');
    expect(Buffer.from(out.subarray(out.length - 7)).toString('latin1')).toBe('trailer');
    expect(await readPngParameters(out)).toBe('x');
  });

  it('refuses a bad keyword and text with a NUL', async () => {
    const png = await encodePng(randomBytes(4, 6), 1, 1);
    await expectInvalid(() => insertPngText(png, '', 'x'), /keyword '' is invalid/);
    await expectInvalid(() => insertPngText(png, 'a  b', 'x'), /keyword 'a {2}b' is invalid/);
    await expectInvalid(() => insertPngText(png, 'k'.repeat(80), 'x'), /is invalid/);
    await expectInvalid(() => insertPngText(png, 'parameters', 'a\0b'), /NUL character/);
  });
});

describe('validation of the PNG itself', () => {
  it('names a JPEG and an empty file as not PNG', async () => {
    const jpeg = Uint8Array.of(0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0, 1);
    await expectInvalid(
      () => readPngText(jpeg, 'photo.jpg'),
      /photo\.jpg is not a PNG: .*ff d8 ff e0.*looks like a JPEG/,
    );
    await expectInvalid(() => readPngText(new Uint8Array(0)), /nothing \(empty file\)/);
  });

  it('names the chunk whose CRC does not match', async () => {
    const png = insertPngText(await encodePng(randomBytes(4, 6), 1, 1), PARAMETERS_KEYWORD, 'Steps: 20');
    const bad = png.slice();
    const textAt = walkChunks(png).findIndex((c) => c.type === 'tEXt');
    expect(textAt).toBe(1);
    bad[33 + 8 + 2] = bad[33 + 8 + 2]! ^ 0x20; // a byte inside the tEXt data (IHDR ends at byte 33)
    const err = await expectInvalid(
      () => readPngText(bad, 'x.png'),
      /x\.png is a corrupt PNG: chunk 'tEXt' at byte 33 has CRC/,
    );
    expect(err.details).toMatchObject({ type: 'tEXt', offset: 33 });
  });

  it('names a truncated file', async () => {
    const png = await encodePng(randomBytes(64 * 4, 6), 8, 8);
    await expectInvalid(() => readPngChunks(png.subarray(0, png.length - 20)), /truncated/);
    await expectInvalid(
      () => readPngChunks(png.subarray(0, png.length - 12)),
      /truncated PNG: it ends at byte .* before IEND/,
    );
  });

  it('wants IHDR first', async () => {
    const png = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('tEXt', bytes('a\0b', 'latin1')),
      chunk('IEND', new Uint8Array(0)),
    ]);
    await expectInvalid(() => readPngChunks(png), /first chunk must be a 13-byte IHDR, got 'tEXt'/);
  });
});
