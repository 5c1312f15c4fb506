import { describe, expect, it } from 'vitest';
import { encodePng, type PngFilter } from '../../src/core/image/png-encode.ts';
import { LorafuseError } from '../../src/errors.ts';
import { decodePng, randomBytes, writeTestPng } from './png-helpers.ts';

const SIZES: [number, number][] = [
  [1, 1],
  [3, 5],
  [64, 48],
  [7, 1],
  [1, 9],
];
const FILTERS: ('adaptive' | PngFilter)[] = [0, 1, 2, 3, 4, 'adaptive'];

function opaque(rgba: Uint8Array): Uint8Array {
  const out = rgba.slice();
  for (let i = 3; i < out.length; i += 4) out[i] = 255;
  return out;
}

describe('test decoder (self-check)', () => {
  it('un-filters rows written with each of the five filters by the test writer', () => {
    const [w, h] = [13, 10];
    const px = randomBytes(w * h * 4, 7);
    const decoded = decodePng(writeTestPng(px, w, h, [0, 1, 2, 3, 4]));
    expect(decoded.filters).toEqual([0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
    expect(decoded.rgba).toEqual(px);
  });
});

describe('encodePng', () => {
  for (const [w, h] of SIZES) {
    for (const filter of FILTERS) {
      it(`round-trips random RGBA ${w}x${h} with filter ${filter} through an independent decoder`, async () => {
        const px = randomBytes(w * h * 4, w * 1000 + h);
        px[3] = 17; // at least one translucent pixel, so alpha is kept
        const png = await encodePng(px, w, h, { filter });
        const d = decodePng(png);
        expect([d.width, d.height, d.colorType]).toEqual([w, h, 6]);
        expect(d.rgba).toEqual(px);
        if (filter !== 'adaptive') expect(d.filters).toEqual(new Array(h).fill(filter));
        expect(d.chunkTypes[0]).toBe('IHDR');
        expect(d.chunkTypes.at(-1)).toBe('IEND');
      });
    }
  }

  it('writes RGB (color type 2) for an opaque image and keeps every pixel', async () => {
    const px = opaque(randomBytes(64 * 48 * 4, 3));
    const d = decodePng(await encodePng(px, 64, 48));
    expect(d.colorType).toBe(2);
    expect(d.rgba).toEqual(px);
  });

  it("keeps RGBA for an opaque image with alpha: 'keep'", async () => {
    const px = opaque(randomBytes(3 * 5 * 4, 4));
    const d = decodePng(await encodePng(px, 3, 5, { alpha: 'keep' }));
    expect(d.colorType).toBe(6);
    expect(d.rgba).toEqual(px);
  });

  it('adaptive filtering picks Sub for a horizontal ramp row and Up for repeated rows (spec heuristic)', async () => {
    const [w, h] = [32, 6];
    const px = new Uint8Array(w * h * 4);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) px.set([x * 8, x * 4, 255 - x * 8, 255], (y * w + x) * 4);
    }
    const d = decodePng(await encodePng(px, w, h));
    // Row 0: Sub leaves a constant residual (ties with Paeth, which equals Sub with no row above;
    // the first minimum wins). Rows below repeat row 0, so Up leaves all zeros.
    expect(d.filters).toEqual([1, 2, 2, 2, 2, 2]);
    expect(d.rgba).toEqual(px);
  });

  it('splits large image data over several IDAT chunks that decode as one stream', async () => {
    const [w, h] = [200, 150];
    const px = randomBytes(w * h * 4, 99);
    const d = decodePng(await encodePng(px, w, h));
    expect(d.chunkTypes.filter((t) => t === 'IDAT').length).toBeGreaterThan(1);
    expect(d.rgba).toEqual(px);
  });

  it('accepts a Uint8ClampedArray (canvas ImageData)', async () => {
    const px = randomBytes(5 * 4 * 4, 11);
    const d = decodePng(await encodePng(new Uint8ClampedArray(px), 5, 4, { alpha: 'keep' }));
    expect(d.rgba).toEqual(px);
  });

  it('writes text chunks between IHDR and the image data', async () => {
    const d = decodePng(
      await encodePng(randomBytes(4, 1), 1, 1, {
        text: [
          { keyword: 'parameters', text: 'a cat\nSteps: 20, Sampler: Euler, CFG scale: 7' },
          { keyword: 'Comment', text: '猫' },
        ],
      }),
    );
    expect(d.chunkTypes).toEqual(['IHDR', 'tEXt', 'iTXt', 'IDAT', 'IEND']);
  });

  it('refuses a pixel buffer of the wrong length, a zero size and an unknown filter', async () => {
    const cases: [() => Promise<unknown>, RegExp][] = [
      [() => encodePng(new Uint8Array(11), 3, 1), /needs 12 bytes, got 11/],
      [() => encodePng(new Uint8Array(0), 0, 1), /width must be an integer/],
      [() => encodePng(new Uint8Array(4), 1, 1.5), /height must be an integer/],
      [() => encodePng(new Uint8Array(4), 1, 1, { filter: 5 as PngFilter }), /filter must be/],
      [
        () => encodePng(new Uint8Array(4), 1, 1, { text: [{ keyword: ' bad', text: 'x' }] }),
        /keyword ' bad' is invalid/,
      ],
    ];
    for (const [run, message] of cases) {
      const err = await run().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LorafuseError);
      expect((err as LorafuseError).code).toBe('invalid-argument');
      expect((err as LorafuseError).message).toMatch(message);
    }
  });
});
