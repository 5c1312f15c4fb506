/**
 * Write-then-read for every dtype (raw bytes identical; float32() equal to an independent decode
 * through DataView and the IEEE formulas), and the reference fixtures read consistently.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Dtype } from '../../src/core/io/safetensors.ts';
import { DTYPES, dtypeSize, readSafetensors, writeSafetensors } from '../../src/core/io/safetensors.ts';

function halfValue(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** float8 e4m3fn: bias 7, no Inf, S.1111.111 NaN. */
function e4m3Value(b: number): number {
  const s = b & 0x80 ? -1 : 1;
  const e = (b >> 3) & 0xf;
  const m = b & 7;
  if (e === 15 && m === 7) return Number.NaN;
  if (e === 0) return s * (m / 8) * 2 ** -6;
  return s * (1 + m / 8) * 2 ** (e - 7);
}

/** Independent little-endian decode of element i. */
function decodeOne(dv: DataView, dtype: Dtype, i: number): number {
  const o = i * dtypeSize(dtype);
  switch (dtype) {
    case 'F64':
      return Math.fround(dv.getFloat64(o, true));
    case 'F32':
      return dv.getFloat32(o, true);
    case 'F16':
      return halfValue(dv.getUint16(o, true));
    case 'BF16':
      return new DataView(new Uint32Array([dv.getUint16(o, true) * 65536]).buffer).getFloat32(0, true);
    case 'F8_E5M2':
      return halfValue(dv.getUint8(o) * 256);
    case 'F8_E4M3':
      return e4m3Value(dv.getUint8(o));
    case 'I64':
      return Math.fround(Number(dv.getBigInt64(o, true)));
    case 'U64':
      return Math.fround(Number(dv.getBigUint64(o, true)));
    case 'I32':
      return Math.fround(dv.getInt32(o, true));
    case 'U32':
      return Math.fround(dv.getUint32(o, true));
    case 'I16':
      return dv.getInt16(o, true);
    case 'U16':
      return dv.getUint16(o, true);
    case 'I8':
      return dv.getInt8(o);
    case 'U8':
      return dv.getUint8(o);
    case 'BOOL':
      return dv.getUint8(o) ? 1 : 0;
  }
}

/** Deterministic pseudo-random bytes (xorshift), BOOL as 0/1. */
function bytesFor(dtype: Dtype, n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n * dtypeSize(dtype));
  let x = seed | 1;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = dtype === 'BOOL' ? x & 1 : x & 0xff;
  }
  return out;
}

const same = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));

describe('safetensors round trip', () => {
  it('writes and reads back every dtype, several shapes, metadata kept', () => {
    const shapes = [[], [0], [7], [3, 5], [2, 1, 3], [33]];
    const tensors = DTYPES.flatMap((dtype, di) =>
      shapes.map((shape, si) => {
        const n = shape.reduce((a, d) => a * d, 1);
        return { name: `${dtype}.${si}`, dtype, shape, data: bytesFor(dtype, n, 1 + di * 31 + si) };
      }),
    );
    const file = writeSafetensors(tensors, { format: 'pt', note: 'héllo ✓' });
    const headerLen = Number(new DataView(file.buffer).getBigUint64(0, true));
    expect(headerLen % 8).toBe(0);
    const f = readSafetensors(file, 'roundtrip.safetensors');
    expect(f.header.metadata).toEqual({ format: 'pt', note: 'héllo ✓' });
    expect(f.names()).toEqual(tensors.map((t) => t.name));
    let checked = 0;
    for (const t of tensors) {
      const info = f.info(t.name);
      expect(info.dtype).toBe(t.dtype);
      expect(info.shape).toEqual(t.shape);
      const raw = f.raw(t.name);
      expect(raw.buffer).toBe(file.buffer); // a view, not a copy
      expect(Array.from(raw)).toEqual(Array.from(t.data));
      const values = f.float32(t.name);
      const dv = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      expect(values.length).toBe(t.data.byteLength / dtypeSize(t.dtype));
      for (let i = 0; i < values.length; i++) {
        const want = decodeOne(dv, t.dtype, i);
        if (!same(values[i]!, want)) throw new Error(`${t.name}[${i}]: got ${values[i]}, want ${want}`);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(500);
  });

  it('float32() is a fresh array; F32 values survive unaligned offsets', () => {
    const a = new Uint8Array([1, 2, 3]); // 3 bytes of U8 put the F32 tensor at an odd offset
    const b = Float32Array.from([1.5, -2.25, 3e-8]);
    const file = writeSafetensors([
      { name: 'a', dtype: 'U8', shape: [3], data: a },
      { name: 'b', dtype: 'F32', shape: [3], data: b },
    ]);
    const f = readSafetensors(file, 'unaligned.safetensors');
    const v = f.float32('b');
    expect(Array.from(v)).toEqual(Array.from(b));
    v[0] = 99;
    expect(f.float32('b')[0]).toBe(1.5);
    expect(f.raw('b').byteOffset % 4).not.toBe(0);
  });

  it('writes an empty file and rejects wrong data lengths', () => {
    const f = readSafetensors(writeSafetensors([]), 'empty.safetensors');
    expect(f.names()).toEqual([]);
    expect(() =>
      writeSafetensors([{ name: 'w', dtype: 'F16', shape: [3], data: new Uint16Array(4) }]),
    ).toThrow(/'w'.*needs 6 bytes, data has 8/);
  });
});

describe('reference fixtures', () => {
  const files = [
    'tests/fixtures/loras/sd15-kohya/sd15-kohya.safetensors',
    'tests/fixtures/models/tiny-sd15/unet/diffusion_pytorch_model.safetensors',
  ];
  for (const path of files) {
    it(`reads ${path}`, () => {
      const bytes = new Uint8Array(readFileSync(path));
      const f = readSafetensors(bytes, path);
      expect(f.names().length).toBeGreaterThan(10);
      let total = f.header.dataOffset;
      for (const name of f.names()) {
        const info = f.info(name);
        const n = info.shape.reduce((a, d) => a * d, 1);
        expect(info.end - info.begin).toBe(n * dtypeSize(info.dtype));
        expect(f.float32(name).length).toBe(n);
        total += info.end - info.begin;
      }
      expect(total).toBe(bytes.length);
    });
  }

  it('kohya LoRA agrees with loras/index.json (count, size, ranks, alphas per component)', () => {
    const index = JSON.parse(readFileSync('tests/fixtures/loras/index.json', 'utf8'))['sd15-kohya'];
    const bytes = readFileSync(files[0]!);
    const f = readSafetensors(bytes, files[0]!);
    expect(f.names().length).toBe(index.num_tensors);
    expect(bytes.length).toBe(index.bytes);
    expect(Object.keys(f.header.metadata).sort()).toEqual(index.safetensors_metadata_keys);
    const prefixes: Record<string, string> = { unet: 'lora_unet_', text_encoder: 'lora_te_' };
    for (const [component, prefix] of Object.entries(prefixes)) {
      const want = index.components[component];
      const downs = f.names().filter((n) => n.startsWith(prefix) && n.endsWith('.lora_down.weight'));
      expect(downs.length).toBe(want.num_modules);
      for (const down of downs) {
        const base = down.slice(0, -'.lora_down.weight'.length);
        const rank = f.info(down).shape[0];
        expect(want.ranks).toContain(rank);
        expect(f.info(`${base}.lora_up.weight`).shape[1]).toBe(rank);
        expect(f.info(`${base}.alpha`).shape).toEqual([]);
        expect(want.alphas).toContain(f.float32(`${base}.alpha`)[0]);
      }
    }
  });

  it('UNet weights match the shapes its config.json implies', () => {
    const f = readSafetensors(readFileSync(files[1]!), files[1]!);
    const config = JSON.parse(readFileSync('tests/fixtures/models/tiny-sd15/unet/config.json', 'utf8'));
    const c0 = config.block_out_channels[0];
    expect(f.info('conv_in.weight').shape).toEqual([c0, config.in_channels, 3, 3]);
    expect(f.info('conv_in.bias').shape).toEqual([c0]);
    expect(f.info('conv_out.weight').shape).toEqual([config.out_channels, c0, 3, 3]);
    const attn = f.names().find((n) => n.endsWith('attn2.to_k.weight'));
    expect(attn).toBeDefined();
    expect(f.info(attn!).shape[1]).toBe(config.cross_attention_dim);
  });
});
