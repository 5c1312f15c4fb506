import { describe, expect, it } from 'vitest';
import { packF16 } from '../../src/core/gpu/f16.ts';
import { assertFinite, countNonfinite } from '../../src/core/gpu/kernels/nonfinite-check/nonfinite-check.ts';
import { createStorageBuffer } from '../../src/core/gpu/storage-buffer.ts';
import { LorafuseError } from '../../src/errors.ts';
import { getTestDevice } from './dawn.ts';

// More elements than one launch has threads (1024 workgroups x 256), so the grid-stride loop runs.
const N = 300_001;

function finiteData(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 100);
}

describe('nonfinite-check', () => {
  it('finds a planted NaN and Inf in f32 and reports the first index', async () => {
    const device = await getTestDevice();
    const data = finiteData(N);
    data[290_000] = Number.NaN;
    data[123_457] = Number.NEGATIVE_INFINITY;
    data[200_000] = Number.POSITIVE_INFINITY;
    const buf = createStorageBuffer(device, { label: 'nf-f32', data });
    const got = await countNonfinite(device, { module: 'test.f32', dtype: 'f32', count: N, data: buf });
    expect(got).toEqual({ nan: 1, inf: 2, firstIndex: 123_457 });
  });

  it('reports an all-finite buffer as clean (f32 max and subnormals included)', async () => {
    const device = await getTestDevice();
    const data = finiteData(1000);
    data[3] = 3.4028234663852886e38;
    data[4] = -1e-45;
    const buf = createStorageBuffer(device, { label: 'nf-clean', data });
    const got = await countNonfinite(device, { module: 'test.clean', dtype: 'f32', count: 1000, data: buf });
    expect(got).toEqual({ nan: 0, inf: 0, firstIndex: null });
  });

  it('checks packed f16 halves, and never the padding half of an odd count', async () => {
    const device = await getTestDevice();
    const values = Array.from(finiteData(N));
    values[77_777] = Number.NaN; // odd index: a high half
    values[100_000] = 70_000; // beyond f16 range: packs to +Inf
    values[5] = 65_504; // the largest finite f16
    const words = packF16(values);
    // Plant an Inf (0x7c00) in the padding half of the last word: not an element, not counted.
    words[words.length - 1]! |= 0x7c00 << 16;
    const buf = createStorageBuffer(device, { label: 'nf-f16', data: words });
    const got = await countNonfinite(device, { module: 'test.f16', dtype: 'f16', count: N, data: buf });
    expect(got).toEqual({ nan: 1, inf: 1, firstIndex: 77_777 });
  });

  it('assertFinite refuses a bad buffer naming the module', async () => {
    const device = await getTestDevice();
    const data = finiteData(10);
    data[7] = Number.NaN;
    const buf = createStorageBuffer(device, { label: 'nf-assert', data });
    const module = 'unet.mid_block.attentions.0.proj_in';
    const err = await assertFinite(device, { module, dtype: 'f32', count: 10, data: buf }).catch((e) => e);
    expect(err).toBeInstanceOf(LorafuseError);
    expect(err.code).toBe('lora-nonfinite');
    expect(err.message).toContain(module);
    expect(err.details).toMatchObject({ module, nan: 1, inf: 0, firstIndex: 7 });
    await expect(
      assertFinite(device, { module, dtype: 'f32', count: 7, data: buf }),
    ).resolves.toBeUndefined();
  });
});
