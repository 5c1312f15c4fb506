/**
 * The committed PWA icons (public/, written by scripts/make-icons.ts), decoded here with
 * node:zlib's inflate and a PNG reader written for this test (not the script's encoder): sizes as
 * the manifest declares them, the maskable icon opaque with its glyph inside the safe zone (the
 * centred circle of radius 0.4 that every mask shape keeps), the others with transparent corners.
 */
import { readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { pwaOptions } from '../../vite.config.ts';

const PUBLIC = new URL('../../public/', import.meta.url);
const BG = [0x0b, 0x0f, 0x19]; // --bg of src/app/app.css

interface Image {
  width: number;
  height: number;
  rgba: Uint8Array;
}

/** 8-bit RGBA, non-interlaced PNGs: enough for our icons; anything else is refused. */
function readPng(bytes: Buffer): Image {
  expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  let offset = 8;
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  while (offset < bytes.length) {
    const length = bytes.readUInt32BE(offset);
    const type = bytes.toString('latin1', offset + 4, offset + 8);
    const data = bytes.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      expect([data[8], data[9], data[12]], 'bit depth, colour type, interlace').toEqual([8, 6, 0]);
    } else if (type === 'IDAT') idat.push(data);
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * 4;
  expect(raw.length).toBe((stride + 1) * height);
  const rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    const row = y * (stride + 1);
    const filter = raw[row] as number;
    for (let x = 0; x < stride; x++) {
      const cur = raw[row + 1 + x] as number;
      const left = x >= 4 ? (rgba[y * stride + x - 4] as number) : 0;
      const up = y > 0 ? (rgba[(y - 1) * stride + x] as number) : 0;
      const upLeft = x >= 4 && y > 0 ? (rgba[(y - 1) * stride + x - 4] as number) : 0;
      const p = left + up - upLeft;
      const [pa, pb, pc] = [Math.abs(p - left), Math.abs(p - up), Math.abs(p - upLeft)];
      const paeth = pa <= pb && pa <= pc ? left : pb <= pc ? up : upLeft;
      const predictor = [0, left, up, (left + up) >> 1, paeth][filter];
      if (predictor === undefined) throw new Error(`unknown PNG filter ${filter} in row ${y}`);
      rgba[y * stride + x] = (cur + predictor) & 255;
    }
  }
  return { width, height, rgba };
}

function pixel(img: Image, x: number, y: number): number[] {
  const o = (y * img.width + x) * 4;
  return [...img.rgba.subarray(o, o + 4)];
}

const declared = pwaOptions.manifest ? pwaOptions.manifest.icons : undefined;
if (!declared) throw new Error('vite.config.ts declares no manifest icons');
const icons = declared;

/** An icon's purposes (the manifest's space-separated `purpose`, default `any`). */
function purposes(icon: { purpose?: string | string[] }): string[] {
  const p = icon.purpose ?? 'any';
  return Array.isArray(p) ? p : p.split(' ');
}

describe('PWA icons in public/', () => {
  it.each(icons.map((i) => [i.src, i]))('%s decodes at the size the manifest declares', (src, icon) => {
    const img = readPng(readFileSync(new URL(src, PUBLIC)));
    expect(`${img.width}x${img.height}`).toBe(icon.sizes);
    expect(icon.type).toBe('image/png');
  });

  it('the manifest has a 192 and a 512 icon for any purpose, and a maskable 512', () => {
    const has = (sizes: string, purpose: string) =>
      icons.some((i) => i.sizes === sizes && purposes(i).includes(purpose));
    expect(has('192x192', 'any')).toBe(true);
    expect(has('512x512', 'any')).toBe(true);
    expect(has('512x512', 'maskable')).toBe(true);
  });

  it('maskable icons are opaque, background to the edges, glyph inside the safe zone', () => {
    const maskable = icons.filter((i) => purposes(i).includes('maskable'));
    expect(maskable.length).toBeGreaterThan(0);
    for (const icon of maskable) {
      const img = readPng(readFileSync(new URL(icon.src, PUBLIC)));
      const c = (img.width - 1) / 2;
      let glyph = 0;
      let translucent = 0;
      let farthest = 0;
      for (let y = 0; y < img.height; y++) {
        for (let x = 0; x < img.width; x++) {
          const [r, g, b, a] = pixel(img, x, y);
          if (a !== 255) translucent++;
          if (r === BG[0] && g === BG[1] && b === BG[2]) continue;
          glyph++;
          farthest = Math.max(farthest, Math.hypot(x - c, y - c));
        }
      }
      expect(translucent, `${icon.src}: pixels with alpha < 255`).toBe(0);
      expect(pixel(img, 0, 0), `${icon.src}: the corner is background`).toEqual([...BG, 255]);
      // Safe zone: radius 0.4 of the side; one pixel of anti-aliasing slack.
      expect(farthest, `${icon.src}: farthest glyph pixel from the centre`).toBeLessThanOrEqual(
        0.4 * img.width + 1,
      );
      expect(glyph, `${icon.src} has a glyph`).toBeGreaterThan(img.width * img.height * 0.05);
    }
  });

  it('"any" icons have transparent corners around an opaque rounded square', () => {
    for (const icon of icons.filter((i) => purposes(i).join(' ') === 'any')) {
      const img = readPng(readFileSync(new URL(icon.src, PUBLIC)));
      const last = img.width - 1;
      for (const [x, y] of [
        [0, 0],
        [last, 0],
        [0, last],
        [last, last],
      ] as const)
        expect(pixel(img, x, y)[3], `${icon.src} corner (${x}, ${y})`).toBe(0);
      expect(pixel(img, Math.floor(img.width / 2), 2)).toEqual([...BG, 255]);
    }
  });
});
