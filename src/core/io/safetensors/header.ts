/**
 * Safetensors header: the 8-byte little-endian length, the JSON header, and every check made
 * before a single data byte is trusted (the same rules as the Rust `safetensors` crate, plus a
 * refusal of pickle/zip checkpoints with a message that says what to do).
 */
import { LorafuseError } from '../../../errors.ts';
import type { Dtype } from './dtype.ts';
import { dtypeSize, isDtype } from './dtype.ts';

export interface TensorInfo {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Byte offsets relative to the start of the data section, as in the file. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** In file (JSON) order. */
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
  /** 8 + header length: where the data section starts. */
  dataOffset: number;
  fileSize: number;
}

/** The largest header the Rust reader accepts. */
export const MAX_HEADER_BYTES = 100_000_000;

const FIX = 'The file is corrupt, truncated or not a safetensors file: download or export it again.';

export function invalid(file: string, what: string, details: Record<string, unknown> = {}): LorafuseError {
  const t = typeof details.tensor === 'string' ? ` tensor '${details.tensor}':` : '';
  return new LorafuseError('safetensors-invalid', `${file}:${t} ${what}. ${FIX}`, { file, ...details });
}

/** Zip (torch.save since 1.6) or pickle protocol 2-5 (legacy torch.save) magic. */
function pickleMagic(b: Uint8Array): boolean {
  const zip = b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && b[2] === 0x03 && b[3] === 0x04;
  const pickle = b.length >= 2 && b[0] === 0x80 && b[1]! >= 2 && b[1]! <= 5;
  return zip || pickle;
}

function pickleRefused(file: string): LorafuseError {
  return new LorafuseError(
    'pickle-refused',
    `${file}: this is a PyTorch pickle/zip checkpoint (.ckpt/.pt/.bin), which can run arbitrary code ` +
      'when loaded, so lorafuse refuses it. Convert it to .safetensors (for example with ' +
      '`safetensors.torch.save_file(torch.load(path, weights_only=True), "out.safetensors")`) and load that.',
    { file },
  );
}

/**
 * Checks the file prefix and returns the header length N. `prefix` holds the first min(fileSize, 9)
 * bytes (or more); its 9th byte, when present, tells a safetensors header (`{`) from a checkpoint
 * whose magic happens to read as a plausible length.
 */
export function headerLength(prefix: Uint8Array, fileSize: number, file: string): number {
  // A safetensors header starts with '{' at byte 8, which no checkpoint has there. With only 8
  // bytes of a longer file in hand the magic alone proves nothing (0x80 0x02 is a length of 640).
  const decidable = prefix.length >= 9 || fileSize <= 8;
  if (decidable && pickleMagic(prefix) && prefix[8] !== 0x7b) throw pickleRefused(file);
  if (fileSize < 8 || prefix.length < 8) {
    throw invalid(file, `the file is ${fileSize} bytes, shorter than the 8-byte header length`, { fileSize });
  }
  const dv = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const lo = dv.getUint32(0, true);
  const hi = dv.getUint32(4, true);
  const n = hi * 2 ** 32 + lo;
  if (hi !== 0 || n > MAX_HEADER_BYTES) {
    throw invalid(file, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`, { headerLength: n });
  }
  if (8 + n > fileSize) {
    throw invalid(file, `header length ${n} runs past the end of the ${fileSize}-byte file`, {
      headerLength: n,
      fileSize,
    });
  }
  if (n < 2) throw invalid(file, `header length ${n} is too short for a JSON object`, { headerLength: n });
  return n;
}

function decodeJson(bytes: Uint8Array, file: string): Record<string, unknown> {
  if (bytes[0] !== 0x7b) throw invalid(file, "the header does not start with '{'");
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw invalid(file, 'the header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw invalid(file, `the header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw invalid(file, 'the header is not a JSON object');
  }
  return json as Record<string, unknown>;
}

function parseMetadata(value: unknown, file: string): Record<string, string> {
  const metadata: Record<string, string> = {};
  if (value === null || value === undefined) return metadata;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw invalid(file, '__metadata__ is not an object of string values');
  }
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') {
      throw invalid(file, `__metadata__ key '${k}' is a ${typeof v}, expected a string`, { key: k });
    }
    Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return metadata;
}

const ENTRY_KEYS = new Set(['dtype', 'shape', 'data_offsets']);
const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function parseEntry(name: string, value: unknown, file: string): TensorInfo {
  const bad = (what: string, extra: Record<string, unknown> = {}) =>
    invalid(file, what, { tensor: name, ...extra });
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw bad('entry is not an object {dtype, shape, data_offsets}');
  }
  const e = value as Record<string, unknown>;
  for (const k of Object.keys(e)) if (!ENTRY_KEYS.has(k)) throw bad(`unexpected key '${k}' in the entry`);
  for (const k of ENTRY_KEYS) if (!Object.hasOwn(e, k)) throw bad(`entry has no '${k}'`);
  const { dtype, shape, data_offsets: offsets } = e;
  if (!isDtype(dtype)) throw bad(`unknown dtype ${JSON.stringify(dtype)}`, { dtype });
  if (!Array.isArray(shape) || !shape.every(isIndex)) {
    throw bad(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`, { shape });
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex)) {
    throw bad(`data_offsets ${JSON.stringify(offsets)} is not two non-negative integers`, { offsets });
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) throw bad(`data_offsets [${begin}, ${end}] begin after they end`, { begin, end });
  let bytes = dtypeSize(dtype);
  for (const d of shape as number[]) bytes *= d;
  if (!Number.isSafeInteger(bytes) || bytes !== end - begin) {
    throw bad(
      `shape [${shape.join(', ')}] x ${dtype} (${dtypeSize(dtype)} bytes) needs ${bytes} bytes but ` +
        `data_offsets [${begin}, ${end}] span ${end - begin}`,
      { shape, dtype, begin, end },
    );
  }
  return { name, dtype, shape: [...(shape as number[])], begin, end };
}

/** Tensors must tile the data section exactly: no overlap, no gap, ending at the file's end. */
function checkCoverage(tensors: TensorInfo[], dataBytes: number, file: string): void {
  const sorted = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  let prev: TensorInfo | undefined;
  for (const t of sorted) {
    if (t.begin < at) {
      throw invalid(file, `data_offsets [${t.begin}, ${t.end}] overlap tensor '${prev?.name}'`, {
        tensor: t.name,
        other: prev?.name,
      });
    }
    if (t.begin > at) {
      throw invalid(
        file,
        `data_offsets [${t.begin}, ${t.end}] leave a gap of ${t.begin - at} bytes before it`,
        {
          tensor: t.name,
        },
      );
    }
    if (t.end > dataBytes) {
      throw invalid(file, `data_offsets [${t.begin}, ${t.end}] end past the ${dataBytes}-byte data section`, {
        tensor: t.name,
        dataBytes,
      });
    }
    at = t.end;
    prev = t;
  }
  if (at !== dataBytes) {
    throw invalid(file, `tensors cover ${at} bytes of the ${dataBytes}-byte data section`, {
      covered: at,
      dataBytes,
    });
  }
}

/**
 * Parses and validates a header. `bytes` holds at least the first 8 + N bytes of the file,
 * `fileSize` is the whole file's size (the data section must end exactly there).
 */
export function parseHeader(bytes: Uint8Array, fileSize: number, fileName: string): SafetensorsHeader {
  const n = headerLength(bytes, fileSize, fileName);
  if (bytes.length < 8 + n) {
    throw new LorafuseError(
      'invalid-argument',
      `${fileName}: parseHeader got ${bytes.length} bytes but the header needs the first ${8 + n}`,
      { file: fileName, headerLength: n },
    );
  }
  const json = decodeJson(bytes.subarray(8, 8 + n), fileName);
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(json)) {
    if (name === '__metadata__') metadata = parseMetadata(value, fileName);
    else tensors.set(name, parseEntry(name, value, fileName));
  }
  const dataOffset = 8 + n;
  checkCoverage([...tensors.values()], fileSize - dataOffset, fileName);
  return { tensors, metadata, dataOffset, fileSize };
}
