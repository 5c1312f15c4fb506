/**
 * PNG chunk framing and text chunks (PNG spec, 3rd edition, sections 5 and 11.3.3): split a PNG
 * into validated chunks, write chunks with their CRC, read every tEXt / zTXt / iTXt entry, and
 * insert or replace one, the way A1111 keeps its generation parameters in a `parameters` chunk.
 *
 * Text is written as tEXt when it is Latin-1 and as uncompressed iTXt (UTF-8) otherwise, which is
 * what Pillow's `PngInfo.add_text` (used by A1111) does, so either program reads the other's files.
 */
import { LorafuseError } from '../../errors.ts';
import { zlibInflate } from './zlib-stream.ts';

export const PNG_SIGNATURE: Uint8Array = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

/** The keyword A1111 (and tools that read its files) use for the generation parameters. */
export const PARAMETERS_KEYWORD = 'parameters';

const MAX_CHUNK_LENGTH = 0x7fffffff;

export interface PngChunk {
  /** Four ASCII letters, e.g. `IHDR`, `tEXt`. */
  type: string;
  /** The chunk's data (a view into the input, not a copy). */
  data: Uint8Array;
  /** Byte offset of the chunk (its length field) in the file. */
  offset: number;
}

export type PngTextChunkType = 'tEXt' | 'zTXt' | 'iTXt';

export interface PngText {
  keyword: string;
  text: string;
  chunk: PngTextChunkType;
  /** iTXt only: RFC 5646 language tag ('' when absent). */
  languageTag?: string;
  /** iTXt only: the keyword translated into the language ('' when absent). */
  translatedKeyword?: string;
}

function invalid(message: string, details: Record<string, unknown> = {}): LorafuseError {
  return new LorafuseError('invalid-argument', message, details);
}

const CRC_TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO 3309 / ITU-T V.42, the one PNG and zlib use), continuing from `crc` when given. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

function typeBytes(type: string): Uint8Array {
  if (!/^[A-Za-z]{4}$/.test(type))
    throw invalid(`PNG chunk type must be four ASCII letters, got '${type}'.`, { type });
  return Uint8Array.from(type, (ch) => ch.charCodeAt(0));
}

/** One chunk as bytes: length, type, data, CRC over type and data. */
export function encodeChunk(type: string, data: Uint8Array): Uint8Array {
  const tb = typeBytes(type);
  if (data.length > MAX_CHUNK_LENGTH) {
    throw invalid(
      `PNG chunk '${type}' holds ${data.length} bytes; a chunk holds at most ${MAX_CHUNK_LENGTH}.`,
      { type },
    );
  }
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(tb, 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(data, crc32(tb)));
  return out;
}

/** Joins byte arrays into one. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

function describeNonPng(head: Uint8Array): string {
  if (head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return ' (it looks like a JPEG)';
  const ascii = String.fromCharCode(...head.subarray(0, 12));
  if (ascii.startsWith('RIFF') && ascii.slice(8, 12) === 'WEBP') return ' (it looks like a WebP)';
  if (ascii.startsWith('GIF8')) return ' (it looks like a GIF)';
  return '';
}

export interface ReadChunksResult {
  chunks: PngChunk[];
  /** Byte offset just past IEND; bytes after it (some tools append data) are not chunks. */
  end: number;
}

/**
 * Splits a PNG into chunks, checking the signature, every length and every CRC, that IHDR comes
 * first and that IEND is present. `name` (a file name) goes into the messages.
 */
export function readPngChunks(png: Uint8Array, name = 'the file'): ReadChunksResult {
  if (png.length < PNG_SIGNATURE.length || PNG_SIGNATURE.some((b, i) => png[i] !== b)) {
    const head = png.subarray(0, 8);
    throw invalid(
      `${name} is not a PNG: it does not start with the PNG signature (89 50 4e 47 0d 0a 1a 0a) but with ` +
        `${hex(head) || 'nothing (empty file)'}${describeNonPng(png.subarray(0, 12))}. Use a PNG file.`,
      { name, head: hex(head) },
    );
  }
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const chunks: PngChunk[] = [];
  let at = PNG_SIGNATURE.length;
  for (;;) {
    if (at + 12 > png.length) {
      throw invalid(
        `${name} is a truncated PNG: it ends at byte ${png.length} inside the chunk header at byte ${at}` +
          `${chunks.length ? `, after chunk '${chunks[chunks.length - 1]!.type}'` : ''}, before IEND. The file is incomplete.`,
        { name, offset: at },
      );
    }
    const length = view.getUint32(at);
    const type = String.fromCharCode(...png.subarray(at + 4, at + 8));
    if (!/^[A-Za-z]{4}$/.test(type)) {
      throw invalid(
        `${name} is a corrupt PNG: the chunk at byte ${at} has type bytes ${hex(png.subarray(at + 4, at + 8))}.`,
        {
          name,
          offset: at,
        },
      );
    }
    if (length > MAX_CHUNK_LENGTH || at + 12 + length > png.length) {
      throw invalid(
        `${name} is a truncated or corrupt PNG: chunk '${type}' at byte ${at} declares ${length} data bytes but ` +
          `only ${Math.max(png.length - at - 12, 0)} follow.`,
        { name, offset: at, type, length },
      );
    }
    const data = png.subarray(at + 8, at + 8 + length);
    const stored = view.getUint32(at + 8 + length);
    const computed = crc32(data, crc32(png.subarray(at + 4, at + 8)));
    if (stored !== computed) {
      throw invalid(
        `${name} is a corrupt PNG: chunk '${type}' at byte ${at} has CRC 0x${stored.toString(16).padStart(8, '0')} ` +
          `but its bytes give 0x${computed.toString(16).padStart(8, '0')}.`,
        { name, offset: at, type, storedCrc: stored, computedCrc: computed },
      );
    }
    if (chunks.length === 0 && (type !== 'IHDR' || length !== 13)) {
      throw invalid(
        `${name} is a corrupt PNG: the first chunk must be a 13-byte IHDR, got '${type}' of ${length} bytes.`,
        {
          name,
          type,
        },
      );
    }
    chunks.push({ type, data, offset: at });
    at += 12 + length;
    if (type === 'IEND') return { chunks, end: at };
  }
}

function latin1(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return s;
}

function isLatin1(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0xff) return false;
  return true;
}

function latin1Bytes(text: string): Uint8Array {
  return Uint8Array.from(text, (ch) => ch.charCodeAt(0));
}

/** Checks a keyword against the PNG rules: 1-79 printable Latin-1 characters, single inner spaces. */
export function validateKeyword(keyword: string): void {
  const ok =
    keyword.length >= 1 &&
    keyword.length <= 79 &&
    /^[\x21-\x7e\xa1-\xff](?:[\x21-\x7e\xa1-\xff]| (?! ))*$/.test(keyword) &&
    !keyword.endsWith(' ');
  if (!ok) {
    throw invalid(
      `PNG text keyword '${keyword}' is invalid: use 1-79 printable Latin-1 characters without leading, trailing or double spaces.`,
      { keyword },
    );
  }
}

/**
 * A text chunk for `keyword`: tEXt when `text` is Latin-1, uncompressed iTXt (UTF-8) otherwise.
 * Text with a NUL character is refused (neither chunk can carry it faithfully).
 */
export function encodeTextChunk(keyword: string, text: string): Uint8Array {
  validateKeyword(keyword);
  if (text.includes('\0')) {
    throw invalid(
      `PNG text '${keyword}' contains a NUL character, which PNG text chunks cannot hold; remove it.`,
      {
        keyword,
      },
    );
  }
  const kw = latin1Bytes(keyword);
  if (isLatin1(text)) return encodeChunk('tEXt', concatBytes([kw, Uint8Array.of(0), latin1Bytes(text)]));
  // keyword NUL, compression flag 0, method 0, empty language tag NUL, empty translated keyword NUL, text.
  const utf8 = new TextEncoder().encode(text);
  return encodeChunk('iTXt', concatBytes([kw, Uint8Array.of(0, 0, 0, 0, 0), utf8]));
}

function splitAtNul(data: Uint8Array, from: number, what: string): [Uint8Array, number] {
  const nul = data.indexOf(0, from);
  if (nul < 0) throw invalid(`${what}: a NUL separator is missing.`, { what });
  return [data.subarray(from, nul), nul + 1];
}

function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    throw new LorafuseError(
      'invalid-argument',
      `${what}: the text is not valid UTF-8.`,
      { what },
      { cause: e },
    );
  }
}

async function decodeTextChunk(chunk: PngChunk, name: string): Promise<PngText> {
  const where = `${name}: ${chunk.type} chunk at byte ${chunk.offset}`;
  const [kwBytes, rest] = splitAtNul(chunk.data, 0, where);
  const keyword = latin1(kwBytes);
  const what = `${where} ('${keyword}')`;
  if (chunk.type === 'tEXt') return { keyword, text: latin1(chunk.data.subarray(rest)), chunk: 'tEXt' };
  if (chunk.type === 'zTXt') {
    if (chunk.data[rest] !== 0)
      throw invalid(`${what}: unknown compression method ${chunk.data[rest]}.`, { what });
    return { keyword, text: latin1(await zlibInflate(chunk.data.subarray(rest + 1), what)), chunk: 'zTXt' };
  }
  const flag = chunk.data[rest];
  const method = chunk.data[rest + 1];
  if (flag === undefined || method === undefined || flag > 1 || method !== 0) {
    throw invalid(`${what}: bad compression flag/method (${flag}, ${method}).`, { what });
  }
  const [langBytes, afterLang] = splitAtNul(chunk.data, rest + 2, what);
  const [transBytes, afterTrans] = splitAtNul(chunk.data, afterLang, what);
  const body = chunk.data.subarray(afterTrans);
  const textBytes = flag === 1 ? await zlibInflate(body, what) : body;
  return {
    keyword,
    text: decodeUtf8(textBytes, what),
    chunk: 'iTXt',
    languageTag: latin1(langBytes),
    translatedKeyword: decodeUtf8(transBytes, what),
  };
}

const TEXT_TYPES: ReadonlySet<string> = new Set(['tEXt', 'zTXt', 'iTXt']);

/** Every tEXt, zTXt and iTXt entry of a PNG, in file order (compressed ones inflated). */
export async function readPngText(png: Uint8Array, name = 'the file'): Promise<PngText[]> {
  const { chunks } = readPngChunks(png, name);
  const out: PngText[] = [];
  for (const c of chunks) if (TEXT_TYPES.has(c.type)) out.push(await decodeTextChunk(c, name));
  return out;
}

/** The A1111 generation parameters of a PNG (its `parameters` text), or undefined when it has none. */
export async function readPngParameters(png: Uint8Array, name = 'the file'): Promise<string | undefined> {
  return (await readPngText(png, name)).find((t) => t.keyword === PARAMETERS_KEYWORD)?.text;
}

function chunkKeyword(c: PngChunk): string | undefined {
  if (!TEXT_TYPES.has(c.type)) return undefined;
  const nul = c.data.indexOf(0);
  return nul < 0 ? undefined : latin1(c.data.subarray(0, nul));
}

/**
 * A copy of `png` whose text `keyword` is `text`: any existing tEXt/zTXt/iTXt with that keyword
 * is removed and the new chunk goes just before the first IDAT (where Pillow and A1111 put it, and
 * where readers that stop at the image data still find it). Bytes after IEND are kept.
 */
export function insertPngText(png: Uint8Array, keyword: string, text: string, name = 'the file'): Uint8Array {
  const chunk = encodeTextChunk(keyword, text);
  const { chunks, end } = readPngChunks(png, name);
  const parts: Uint8Array[] = [png.subarray(0, PNG_SIGNATURE.length)];
  let inserted = false;
  for (const c of chunks) {
    if (chunkKeyword(c) === keyword) continue;
    if (!inserted && (c.type === 'IDAT' || c.type === 'IEND')) {
      parts.push(chunk);
      inserted = true;
    }
    parts.push(png.subarray(c.offset, c.offset + 12 + c.data.length));
  }
  parts.push(png.subarray(end));
  return concatBytes(parts);
}
