import { describe, expect, it } from 'vitest';
import { packParams, paramsLayout } from '../../src/core/gpu/uniform-params.ts';

describe('uniform Params layout and packing', () => {
  it('places scalars at 4-byte steps and rounds the struct to 16 bytes', () => {
    expect(paramsLayout({}).byteSize).toBe(16);
    expect(paramsLayout({ a: 'u32', b: 'f32', c: 'i32' })).toEqual({
      fields: [
        { name: 'a', type: 'u32', offset: 0 },
        { name: 'b', type: 'f32', offset: 4 },
        { name: 'c', type: 'i32', offset: 8 },
      ],
      byteSize: 16,
    });
    expect(paramsLayout({ a: 'u32', b: 'u32', c: 'u32', d: 'u32', e: 'u32' }).byteSize).toBe(32);
  });

  it('packs little-endian values in declaration order', () => {
    const spec = { n: 'u32', a: 'f32', k: 'i32' } as const;
    const bytes = packParams('t', paramsLayout(spec), { n: 0xfffffffe, a: 0.1, k: -3 });
    const view = new DataView(bytes);
    expect(bytes.byteLength).toBe(16);
    expect(view.getUint32(0, true)).toBe(0xfffffffe);
    expect(view.getFloat32(4, true)).toBe(Math.fround(0.1));
    expect(view.getInt32(8, true)).toBe(-3);
    expect(view.getUint32(12, true)).toBe(0);
  });

  it('refuses missing, unknown and out-of-range values, naming kernel and field', () => {
    const layout = paramsLayout({ n: 'u32', k: 'i32' });
    const pack = (v: Record<string, number>) => () =>
      packParams('merge-x', layout, v as { n: number; k: number });
    expect(pack({ n: 1 })).toThrow(/merge-x.*"k"/);
    expect(pack({ n: 1, k: 0, extra: 2 })).toThrow(/no param "extra"/);
    expect(pack({ n: -1, k: 0 })).toThrow(/"n".*integer/);
    expect(pack({ n: 1.5, k: 0 })).toThrow(/"n"/);
    expect(pack({ n: 2 ** 32, k: 0 })).toThrow(/"n"/);
    expect(pack({ n: 0, k: 2 ** 31 })).toThrow(/"k"/);
    expect(pack({ n: Number.NaN, k: 0 })).toThrow(/"n"/);
  });
});
