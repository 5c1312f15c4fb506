/**
 * Element conversions between the half-precision formats and float32, and the decode of any
 * safetensors dtype to float32. Typed arrays are read in the platform's byte order, which is
 * little-endian on every platform a browser or Node runs on, as safetensors is.
 */
import type { Dtype } from './dtype.ts';
import { dtypeSize } from './dtype.ts';

let f16Table: Uint32Array | undefined;

/** float32 bit patterns of all 65536 half values (built once, 256 KB). */
function halfTable(): Uint32Array {
  if (f16Table) return f16Table;
  const t = new Uint32Array(65536);
  const f = new Float32Array(t.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) {
      // zero or subnormal: mant * 2^-24, exact in float32
      f[h] = (sign ? -1 : 1) * mant * 2 ** -24;
    } else if (exp === 31) {
      t[h] = (sign | 0x7f800000 | (mant << 13)) >>> 0; // Inf, or NaN with its payload
    } else {
      t[h] = (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
    }
  }
  f16Table = t;
  return t;
}

/** IEEE half bit patterns to float32 (exact). */
export function f16ToF32(u16: Uint16Array): Float32Array {
  const table = halfTable();
  const out = new Float32Array(u16.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < u16.length; i++) bits[i] = table[u16[i]!]!;
  return out;
}

/** bfloat16 bit patterns to float32 (exact: bf16 is the top half of a float32). */
export function bf16ToF32(u16: Uint16Array): Float32Array {
  const out = new Float32Array(u16.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < u16.length; i++) bits[i] = u16[i]! << 16;
  return out;
}

/** One float32 bit pattern to half, round to nearest even; overflow gives Inf, NaN stays NaN. */
export function f32BitsToF16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 112; // rebias 127 -> 15
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // half subnormal (or zero): k * 2^-24 with k = (1.mant * 2^(exp-127)) * 2^24
    const shift = 14 - e;
    if (shift > 24) return sign; // below half of the smallest subnormal
    const m = mant | 0x800000;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h; // h may carry into the smallest normal, which is correct
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // a carry may reach Inf, which is correct
  return sign | h;
}

/** float32 to IEEE half bit patterns, round to nearest even. */
export function f32ToF16(f: Float32Array): Uint16Array {
  const bits = new Uint32Array(f.buffer, f.byteOffset, f.length);
  const out = new Uint16Array(f.length);
  for (let i = 0; i < f.length; i++) out[i] = f32BitsToF16(bits[i]!);
  return out;
}

/** float32 to bfloat16 bit patterns, round to nearest even; NaN stays (quiet) NaN. */
export function f32ToBf16(f: Float32Array): Uint16Array {
  const bits = new Uint32Array(f.buffer, f.byteOffset, f.length);
  const out = new Uint16Array(f.length);
  for (let i = 0; i < f.length; i++) {
    const x = bits[i]!;
    if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) out[i] = (x >>> 16) | 0x40;
    else out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

let e4m3Table: Float32Array | undefined;

/** float8 e4m3fn (bias 7, no Inf, S.1111.111 is NaN), as torch.float8_e4m3fn. */
function e4m3(): Float32Array {
  if (e4m3Table) return e4m3Table;
  const t = new Float32Array(256);
  for (let b = 0; b < 256; b++) {
    const s = b & 0x80 ? -1 : 1;
    const exp = (b >>> 3) & 0xf;
    const mant = b & 7;
    if (exp === 15 && mant === 7) t[b] = Number.NaN;
    else if (exp === 0) t[b] = s * mant * 2 ** -9;
    else t[b] = s * (1 + mant / 8) * 2 ** (exp - 7);
  }
  e4m3Table = t;
  return t;
}

/** Bytes aligned for a typed array of `size`-byte elements: a view when aligned, else a copy. */
function aligned(bytes: Uint8Array, size: number): ArrayBuffer {
  if (bytes.byteOffset % size === 0 && bytes.buffer instanceof ArrayBuffer) return bytes.buffer;
  return bytes.slice().buffer;
}

function alignedOffset(bytes: Uint8Array, size: number): number {
  return bytes.byteOffset % size === 0 && bytes.buffer instanceof ArrayBuffer ? bytes.byteOffset : 0;
}

/**
 * Decodes little-endian elements of `dtype` to a fresh float32 array. `bytes.byteLength` must be a
 * multiple of the element size. Integers beyond 2^24 round to the nearest float32, as a cast does.
 */
export function toFloat32(bytes: Uint8Array, dtype: Dtype): Float32Array {
  const size = dtypeSize(dtype);
  const n = bytes.byteLength / size;
  const buf = aligned(bytes, size);
  const off = alignedOffset(bytes, size);
  switch (dtype) {
    case 'F32':
      return new Float32Array(buf.slice(off, off + n * 4));
    case 'F16':
      return f16ToF32(new Uint16Array(buf, off, n));
    case 'BF16':
      return bf16ToF32(new Uint16Array(buf, off, n));
    case 'F64':
      return Float32Array.from(new Float64Array(buf, off, n));
    case 'F8_E5M2': {
      // e5m2 is the top byte of a half
      const h = new Uint16Array(n);
      for (let i = 0; i < n; i++) h[i] = bytes[i]! << 8;
      return f16ToF32(h);
    }
    case 'F8_E4M3': {
      const t = e4m3();
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = t[bytes[i]!]!;
      return out;
    }
    case 'I64':
      return Float32Array.from(new BigInt64Array(buf, off, n), Number);
    case 'U64':
      return Float32Array.from(new BigUint64Array(buf, off, n), Number);
    case 'I32':
      return Float32Array.from(new Int32Array(buf, off, n));
    case 'U32':
      return Float32Array.from(new Uint32Array(buf, off, n));
    case 'I16':
      return Float32Array.from(new Int16Array(buf, off, n));
    case 'U16':
      return Float32Array.from(new Uint16Array(buf, off, n));
    case 'I8':
      return Float32Array.from(new Int8Array(buf, off, n));
    case 'U8':
      return Float32Array.from(new Uint8Array(buf, off, n));
    case 'BOOL':
      return Float32Array.from(new Uint8Array(buf, off, n), (b) => (b ? 1 : 0));
  }
}
