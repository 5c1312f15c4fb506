/**
 * Streaming upload to GPUBuffers: chunked reads (small chunk size forces many chunks), read back
 * and compared bit for bit with the CPU conversion (readSafetensors().float32 and f32ToF16).
 */
import { describe, expect, it } from 'vitest';
import type { ByteSource, Dtype } from '../../src/core/io/safetensors.ts';
import {
  bufferSource,
  dtypeSize,
  f32ToF16,
  openSafetensors,
  readSafetensors,
  uploadAll,
  uploadTensor,
  writeSafetensors,
} from '../../src/core/io/safetensors.ts';
import { getTestDevice, readBuffer } from './dawn.ts';

function bytes(dtype: Dtype, n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n * dtypeSize(dtype));
  let x = seed;
  for (let i = 0; i < out.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  if (dtype === 'F16' || dtype === 'BF16') {
    // keep values finite and not NaN so comparisons are about rounding, not payloads
    for (let i = 1; i < out.length; i += 2) out[i]! &= 0x3f;
  }
  if (dtype === 'F32') for (let i = 3; i < out.length; i += 4) out[i]! &= 0x3f;
  return out;
}

const SPECS: Array<[string, Dtype, number[]]> = [
  ['a.f16_odd', 'F16', [7, 143]], // 1001 halves: odd, needs a pad word
  ['b.f32', 'F32', [777]],
  ['c.bf16', 'BF16', [5, 101]],
  ['d.f64', 'F64', [33]],
  ['e.i8', 'I8', [3]],
  ['f.empty', 'F16', [0]],
];
const FILE = writeSafetensors(
  SPECS.map(([name, dtype, shape], k) => ({
    name,
    dtype,
    shape,
    data: bytes(
      dtype,
      shape.reduce((a, d) => a * d, 1),
      17 + k,
    ),
  })),
);
const CPU = readSafetensors(FILE, 'upload.safetensors');

/** A buffer source that records the largest single read. */
function recording(): ByteSource & { largest: number } {
  const inner = bufferSource(FILE, 'upload.safetensors');
  const src = {
    ...inner,
    largest: 0,
    read: async (b: number, e: number) => {
      src.largest = Math.max(src.largest, e - b);
      return inner.read(b, e);
    },
  };
  return src;
}

const bits = (f: Float32Array) => Array.from(new Uint32Array(f.buffer, f.byteOffset, f.length));

describe('safetensors GPU upload', () => {
  it('uploads as f32 in chunks, equal to the CPU conversion', async () => {
    const device = await getTestDevice();
    const src = recording();
    const reader = await openSafetensors(src);
    src.largest = 0;
    for (const [name] of SPECS) {
      const want = CPU.float32(name);
      const buf = await uploadTensor(device, reader, name, { dtype: 'f32', chunkBytes: 64 });
      expect(buf.label).toBe(name);
      expect(buf.size).toBe(Math.max(4, want.length * 4));
      expect(buf.usage & GPUBufferUsage.STORAGE).toBeTruthy();
      const got = new Float32Array(await readBuffer(device, buf));
      expect(bits(got.subarray(0, want.length))).toEqual(bits(want));
      buf.destroy();
    }
    expect(src.largest).toBeLessThanOrEqual(64);
  });

  it('uploads as packed f16 pairs, equal to f32ToF16 (F16 bytes untouched), zero pad', async () => {
    const device = await getTestDevice();
    const reader = await openSafetensors(bufferSource(FILE, 'upload.safetensors'));
    for (const [name, dtype] of SPECS) {
      const want =
        dtype === 'F16' ? new Uint16Array(CPU.raw(name).slice().buffer) : f32ToF16(CPU.float32(name));
      const buf = await uploadTensor(device, reader, name, {
        dtype: 'f16-packed',
        chunkBytes: 48,
        label: `w:${name}`,
      });
      expect(buf.label).toBe(`w:${name}`);
      expect(buf.size % 4).toBe(0);
      expect(buf.size).toBe(Math.max(4, Math.ceil(want.length / 2) * 4));
      const got = new Uint16Array(await readBuffer(device, buf));
      expect(Array.from(got.subarray(0, want.length))).toEqual(Array.from(want));
      if (want.length % 2) expect(got[want.length]).toBe(0);
      buf.destroy();
    }
  });

  it('uploadAll: filter, per-tensor dtype, progress to the total', async () => {
    const device = await getTestDevice();
    const reader = await openSafetensors(bufferSource(FILE, 'upload.safetensors'));
    const progress: number[] = [];
    let total = 0;
    const bufs = await uploadAll(device, reader, {
      filter: (t) => t.dtype !== 'I8',
      dtype: (t) => (t.dtype === 'F16' ? 'f16-packed' : 'f32'),
      chunkBytes: 256,
      onProgress: (p) => {
        progress.push(p.bytesDone);
        total = p.bytesTotal;
      },
    });
    expect([...bufs.keys()]).toEqual(SPECS.filter((s) => s[1] !== 'I8').map((s) => s[0]));
    expect(progress.length).toBeGreaterThan(SPECS.length);
    expect(progress.every((v, i) => i === 0 || v >= progress[i - 1]!)).toBe(true);
    expect(progress.at(-1)).toBe(total);
    const f64 = new Float32Array(await readBuffer(device, bufs.get('d.f64')!));
    expect(bits(f64)).toEqual(bits(CPU.float32('d.f64')));
    for (const b of bufs.values()) b.destroy();
  });
});
