/**
 * RGBA pixels to PNG bytes (8 bits per channel, no interlace), with optional text chunks. Rows are
 * filtered per the PNG spec (section 7.3, 9) and the result deflated through the platform's
 * `CompressionStream('deflate')`, so it runs unchanged in a worker, on the main thread and in Node.
 */
import { LorafuseError } from '../../errors.ts';
import { concatBytes, encodeChunk, encodeTextChunk, PNG_SIGNATURE } from './png-chunks.ts';
import { zlibDeflate } from './zlib-stream.ts';

/** PNG filter types: None, Sub, Up, Average, Paeth. */
export type PngFilter = 0 | 1 | 2 | 3 | 4;

export interface PngTextEntry {
  keyword: string;
  text: string;
}

export interface EncodePngOptions {
  /**
   * `adaptive` (default) picks, per row, the filter with the smallest sum of absolute signed
   * bytes (the spec's suggested heuristic); a number uses that filter on every row.
   */
  filter?: 'adaptive' | PngFilter;
  /**
   * `auto` (default) writes RGB (color type 2) when every pixel is opaque and RGBA (type 6)
   * otherwise; `keep` always writes RGBA.
   */
  alpha?: 'auto' | 'keep';
  /** Text chunks written before the image data (tEXt when Latin-1, iTXt otherwise). */
  text?: readonly PngTextEntry[];
}

const MAX_DIMENSION = 0x7fffffff;
/** IDAT data is split into chunks of this size (any split is valid; decoders concatenate). */
const IDAT_CHUNK_BYTES = 1 << 16;

function invalid(message: string, details: Record<string, unknown> = {}): LorafuseError {
  return new LorafuseError('invalid-argument', message, details);
}

function isOpaque(rgba: Uint8Array | Uint8ClampedArray): boolean {
  for (let i = 3; i < rgba.length; i += 4) if (rgba[i] !== 255) return false;
  return true;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

/** Writes row `cur` filtered with `type` into `out` (length = row bytes), `prev` the row above. */
function filterRow(
  type: PngFilter,
  cur: Uint8Array,
  prev: Uint8Array | undefined,
  bpp: number,
  out: Uint8Array,
): void {
  const n = cur.length;
  // One loop per filter (no branch per byte); a missing row above reads as zeros.
  switch (type) {
    case 0:
      out.set(cur);
      return;
    case 1:
      for (let i = 0; i < n; i++) out[i] = cur[i]! - (i >= bpp ? cur[i - bpp]! : 0);
      return;
    case 2:
      if (!prev) out.set(cur);
      else for (let i = 0; i < n; i++) out[i] = cur[i]! - prev[i]!;
      return;
    case 3:
      for (let i = 0; i < n; i++)
        out[i] = cur[i]! - (((i >= bpp ? cur[i - bpp]! : 0) + (prev ? prev[i]! : 0)) >> 1);
      return;
    default:
      for (let i = 0; i < n; i++) {
        const a = i >= bpp ? cur[i - bpp]! : 0;
        const b = prev ? prev[i]! : 0;
        const c = prev && i >= bpp ? prev[i - bpp]! : 0;
        out[i] = cur[i]! - paeth(a, b, c);
      }
  }
}

function rowCost(row: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < row.length; i++) {
    const v = row[i]!;
    s += v < 128 ? v : 256 - v;
  }
  return s;
}

/** Packs RGBA into RGB when `channels` is 3. */
function packPixels(rgba: Uint8Array | Uint8ClampedArray, channels: 3 | 4): Uint8Array {
  if (channels === 4)
    return rgba instanceof Uint8Array ? rgba : new Uint8Array(rgba.buffer, rgba.byteOffset, rgba.length);
  const out = new Uint8Array((rgba.length / 4) * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    out[j] = rgba[i]!;
    out[j + 1] = rgba[i + 1]!;
    out[j + 2] = rgba[i + 2]!;
  }
  return out;
}

/** The filtered scanlines (filter byte + row bytes, per row), ready to deflate. */
export function filterScanlines(
  pixels: Uint8Array,
  width: number,
  height: number,
  bpp: number,
  filter: 'adaptive' | PngFilter,
): Uint8Array {
  const rowBytes = width * bpp;
  const out = new Uint8Array(height * (rowBytes + 1));
  const candidates =
    filter === 'adaptive' ? ([0, 1, 2, 3, 4] as const).map(() => new Uint8Array(rowBytes)) : [];
  for (let y = 0; y < height; y++) {
    const cur = pixels.subarray(y * rowBytes, (y + 1) * rowBytes);
    const prev = y > 0 ? pixels.subarray((y - 1) * rowBytes, y * rowBytes) : undefined;
    const dst = out.subarray(y * (rowBytes + 1) + 1, (y + 1) * (rowBytes + 1));
    if (filter !== 'adaptive') {
      out[y * (rowBytes + 1)] = filter;
      filterRow(filter, cur, prev, bpp, dst);
      continue;
    }
    let best = 0;
    let bestCost = Number.POSITIVE_INFINITY;
    for (let t = 0; t < 5; t++) {
      filterRow(t as PngFilter, cur, prev, bpp, candidates[t]!);
      const cost = rowCost(candidates[t]!);
      if (cost < bestCost) {
        bestCost = cost;
        best = t;
      }
    }
    out[y * (rowBytes + 1)] = best;
    dst.set(candidates[best]!);
  }
  return out;
}

function checkInput(
  rgba: Uint8Array | Uint8ClampedArray,
  width: number,
  height: number,
  filter: unknown,
): void {
  for (const [name, v] of [
    ['width', width],
    ['height', height],
  ] as const) {
    if (!Number.isInteger(v) || v < 1 || v > MAX_DIMENSION) {
      throw invalid(`PNG ${name} must be an integer in 1..${MAX_DIMENSION}, got ${v}.`, { [name]: v });
    }
  }
  if (rgba.length !== width * height * 4) {
    throw invalid(
      `PNG pixels: ${width}x${height} RGBA needs ${width * height * 4} bytes, got ${rgba.length}. Pass 4 bytes (R, G, B, A) per pixel, rows top to bottom.`,
      { width, height, length: rgba.length },
    );
  }
  if (
    filter !== 'adaptive' &&
    !(Number.isInteger(filter) && (filter as number) >= 0 && (filter as number) <= 4)
  ) {
    throw invalid(`PNG filter must be 'adaptive' or 0..4, got ${String(filter)}.`, { filter });
  }
}

/**
 * Encodes `width` x `height` RGBA pixels (row-major, top row first, straight alpha) as a PNG.
 * Throws `invalid-argument` for a size/length mismatch, a bad filter or a bad text entry.
 */
export async function encodePng(
  rgba: Uint8Array | Uint8ClampedArray,
  width: number,
  height: number,
  options: EncodePngOptions = {},
): Promise<Uint8Array> {
  const { filter = 'adaptive', alpha = 'auto', text = [] } = options;
  checkInput(rgba, width, height, filter);
  const textChunks = text.map((t) => encodeTextChunk(t.keyword, t.text));
  const channels = alpha === 'keep' || !isOpaque(rgba) ? 4 : 3;
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = channels === 4 ? 6 : 2; // color type: RGBA or RGB
  // compression 0 (deflate), filter method 0, interlace 0: already zero.
  const scanlines = filterScanlines(packPixels(rgba, channels), width, height, channels, filter);
  const zdata = await zlibDeflate(scanlines);
  const idat: Uint8Array[] = [];
  for (let at = 0; at < zdata.length || idat.length === 0; at += IDAT_CHUNK_BYTES) {
    idat.push(encodeChunk('IDAT', zdata.subarray(at, at + IDAT_CHUNK_BYTES)));
  }
  return concatBytes([
    PNG_SIGNATURE,
    encodeChunk('IHDR', ihdr),
    ...textChunks,
    ...idat,
    encodeChunk('IEND', new Uint8Array(0)),
  ]);
}
