/**
 * An independent minimal PNG reader/writer for tests: Node's Buffer, `zlib.inflateSync` /
 * `zlib.deflateSync` and `zlib.crc32`, with its own chunk walk and un-filtering of all five filter
 * types. It shares no code with src/core/image, so a bug there cannot hide in both.
 */
import zlib from 'node:zlib';

export interface DecodedPng {
  width: number;
  height: number;
  colorType: number;
  /** Always RGBA (RGB input gets alpha 255). */
  rgba: Uint8Array;
  /** Filter type of every scanline, top to bottom. */
  filters: number[];
  /** Chunk types in file order. */
  chunkTypes: string[];
  chunks: { type: string; data: Buffer }[];
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export function walkChunks(png: Uint8Array): { type: string; data: Buffer }[] {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  if (!buf.subarray(0, 8).equals(SIGNATURE)) throw new Error('test decoder: bad signature');
  const out: { type: string; data: Buffer }[] = [];
  let at = 8;
  while (at < buf.length) {
    const len = buf.readUInt32BE(at);
    const type = buf.toString('latin1', at + 4, at + 8);
    const data = buf.subarray(at + 8, at + 8 + len);
    const crc = buf.readUInt32BE(at + 8 + len);
    const expect = zlib.crc32(data, zlib.crc32(buf.subarray(at + 4, at + 8)));
    if (crc !== expect) throw new Error(`test decoder: CRC mismatch in ${type}`);
    out.push({ type, data });
    at += 12 + len;
    if (type === 'IEND') break;
  }
  return out;
}

function paethPredictor(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

export function decodePng(png: Uint8Array): DecodedPng {
  const chunks = walkChunks(png);
  const ihdr = chunks[0]!;
  if (ihdr.type !== 'IHDR') throw new Error('test decoder: IHDR not first');
  const width = ihdr.data.readUInt32BE(0);
  const height = ihdr.data.readUInt32BE(4);
  const depth = ihdr.data[8]!;
  const colorType = ihdr.data[9]!;
  if (depth !== 8 || (colorType !== 2 && colorType !== 6) || ihdr.data[12] !== 0) {
    throw new Error(`test decoder: unsupported depth ${depth} / color type ${colorType} / interlace`);
  }
  const bpp = colorType === 6 ? 4 : 3;
  const raw = zlib.inflateSync(Buffer.concat(chunks.filter((c) => c.type === 'IDAT').map((c) => c.data)));
  const stride = width * bpp;
  if (raw.length !== height * (stride + 1)) throw new Error(`test decoder: ${raw.length} inflated bytes`);
  const px = new Uint8Array(height * stride);
  const filters: number[] = [];
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)]!;
    filters.push(f);
    for (let i = 0; i < stride; i++) {
      const x = raw[y * (stride + 1) + 1 + i]!;
      const a = i >= bpp ? px[y * stride + i - bpp]! : 0;
      const b = y > 0 ? px[(y - 1) * stride + i]! : 0;
      const c = y > 0 && i >= bpp ? px[(y - 1) * stride + i - bpp]! : 0;
      const pred = [0, a, b, Math.floor((a + b) / 2), paethPredictor(a, b, c)][f];
      if (pred === undefined) throw new Error(`test decoder: filter ${f}`);
      px[y * stride + i] = (x + pred) % 256;
    }
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    for (let k = 0; k < 3; k++) rgba[p * 4 + k] = px[p * bpp + k]!;
    rgba[p * 4 + 3] = bpp === 4 ? px[p * bpp + 3]! : 255;
  }
  return { width, height, colorType, rgba, filters, chunkTypes: chunks.map((c) => c.type), chunks };
}

export function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(data, zlib.crc32(Buffer.from(type, 'latin1'))), 0);
  return Buffer.concat([head, Buffer.from(data), crc]);
}

/**
 * An RGBA PNG written by the test alone: each row filtered with `filters[y % filters.length]`
 * (the forward filters written here, from the spec), deflated with zlib, plus `extra` chunks
 * placed before IDAT.
 */
export function writeTestPng(
  rgba: Uint8Array,
  width: number,
  height: number,
  filters: number[] = [0],
  extra: Buffer[] = [],
): Buffer {
  const stride = width * 4;
  const raw = Buffer.alloc(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    const f = filters[y % filters.length]!;
    raw[y * (stride + 1)] = f;
    for (let i = 0; i < stride; i++) {
      const x = rgba[y * stride + i]!;
      const a = i >= 4 ? rgba[y * stride + i - 4]! : 0;
      const b = y > 0 ? rgba[(y - 1) * stride + i]! : 0;
      const c = y > 0 && i >= 4 ? rgba[(y - 1) * stride + i - 4]! : 0;
      const pred = [0, a, b, Math.floor((a + b) / 2), paethPredictor(a, b, c)][f]!;
      raw[y * (stride + 1) + 1 + i] = (x - pred + 256) % 256;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 6;
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', ihdr),
    ...extra,
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
export function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s & 0xff;
  }
  return out;
}
