/**
 * Writes the app's icons into public/: the PWA icons (192, 512, a maskable 512), the Apple touch
 * icon (180) and favicon.svg, all drawn from one scene (three LoRA strength sliders on the app's
 * dark background), so the PNGs and the SVG cannot drift apart. Node built-ins only: the PNGs are
 * rasterised here (signed distances, 4x4 supersampling) and encoded with a small PNG writer over
 * node:zlib. Run `npx tsx scripts/make-icons.ts` after changing the scene; commit the output.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

const PUBLIC_DIR = fileURLToPath(new URL('../public', import.meta.url));

/** The dark theme of src/app/app.css: --bg, --border, --accent, --accent-2. */
export const COLORS = { bg: '#0b0f19', track: '#374151', accent: '#f97316', knob: '#fb923c' } as const;

type Rgb = readonly [number, number, number];

/** Scene coordinates are fractions of the icon's side, origin top left. */
type Shape =
  | { kind: 'roundRect'; x0: number; y0: number; x1: number; y1: number; radius: number; color: string }
  /** A segment with round caps (a slider track): `width` is its thickness. */
  | { kind: 'capsule'; x0: number; x1: number; y: number; width: number; color: string }
  | { kind: 'circle'; cx: number; cy: number; r: number; color: string };

export interface IconSpec {
  file: string;
  size: number;
  /** Maskable icons fill the whole square and keep the glyph inside the safe zone (a centred circle of radius 0.4). */
  maskable: boolean;
}

export const ICONS: readonly IconSpec[] = [
  { file: 'pwa-192x192.png', size: 192, maskable: false },
  { file: 'pwa-512x512.png', size: 512, maskable: false },
  { file: 'maskable-icon-512x512.png', size: 512, maskable: true },
  { file: 'apple-touch-icon-180x180.png', size: 180, maskable: true },
];

/** Three sliders at different strengths: the app's subject (live LoRA weights). */
const SLIDERS = [
  { y: 0.3, knob: 0.64 },
  { y: 0.5, knob: 0.36 },
  { y: 0.7, knob: 0.76 },
] as const;
const TRACK_X0 = 0.2;
const TRACK_X1 = 0.8;
const TRACK_WIDTH = 0.07;
const KNOB_R = 0.085;
const KNOB_RING = 0.035;

/** The shapes of one icon, back to front. `glyphScale` shrinks the sliders about the centre. */
export function scene(maskable: boolean): Shape[] {
  // Maskable: the glyph's farthest point must stay inside the safe-zone circle (radius 0.4).
  const s = maskable ? 0.72 : 1;
  const at = (v: number) => 0.5 + (v - 0.5) * s;
  const shapes: Shape[] = [
    { kind: 'roundRect', x0: 0, y0: 0, x1: 1, y1: 1, radius: maskable ? 0 : 0.2, color: COLORS.bg },
  ];
  for (const { y, knob } of SLIDERS) {
    const common = { x0: at(TRACK_X0), y: at(y), width: TRACK_WIDTH * s };
    shapes.push({ kind: 'capsule', ...common, x1: at(TRACK_X1), color: COLORS.track });
    shapes.push({ kind: 'capsule', ...common, x1: at(knob), color: COLORS.accent });
    shapes.push({ kind: 'circle', cx: at(knob), cy: at(y), r: (KNOB_R + KNOB_RING) * s, color: COLORS.bg });
    shapes.push({ kind: 'circle', cx: at(knob), cy: at(y), r: KNOB_R * s, color: COLORS.knob });
  }
  return shapes;
}

function hexToRgb(hex: string): Rgb {
  const n = Number.parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** Signed distance from (x, y) to the shape's edge: negative inside. */
function distance(shape: Shape, x: number, y: number): number {
  switch (shape.kind) {
    case 'circle':
      return Math.hypot(x - shape.cx, y - shape.cy) - shape.r;
    case 'capsule': {
      const px = Math.min(Math.max(x, shape.x0), shape.x1);
      return Math.hypot(x - px, y - shape.y) - shape.width / 2;
    }
    case 'roundRect': {
      const cx = (shape.x0 + shape.x1) / 2;
      const cy = (shape.y0 + shape.y1) / 2;
      const qx = Math.abs(x - cx) - ((shape.x1 - shape.x0) / 2 - shape.radius);
      const qy = Math.abs(y - cy) - ((shape.y1 - shape.y0) / 2 - shape.radius);
      const outside = Math.hypot(Math.max(qx, 0), Math.max(qy, 0));
      return outside + Math.min(Math.max(qx, qy), 0) - shape.radius;
    }
  }
}

const SUPERSAMPLE = 4;

/** RGBA pixels (straight alpha), `size` x `size`. */
export function rasterize(shapes: readonly Shape[], size: number): Uint8Array {
  const colors = shapes.map((s) => hexToRgb(s.color));
  const out = new Uint8Array(size * size * 4);
  const n = SUPERSAMPLE * SUPERSAMPLE;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      // Average premultiplied colour over the sub-samples, compositing the shapes back to front.
      let r = 0;
      let g = 0;
      let b = 0;
      let a = 0;
      for (let sy = 0; sy < SUPERSAMPLE; sy++) {
        for (let sx = 0; sx < SUPERSAMPLE; sx++) {
          const x = (px + (sx + 0.5) / SUPERSAMPLE) / size;
          const y = (py + (sy + 0.5) / SUPERSAMPLE) / size;
          let sr = 0;
          let sg = 0;
          let sb = 0;
          let sa = 0;
          shapes.forEach((shape, i) => {
            if (distance(shape, x, y) > 0) return;
            const c = colors[i] as Rgb;
            sr = c[0];
            sg = c[1];
            sb = c[2];
            sa = 1;
          });
          r += sr * sa;
          g += sg * sa;
          b += sb * sa;
          a += sa;
        }
      }
      const o = (py * size + px) * 4;
      if (a > 0) {
        out[o] = Math.round(r / a);
        out[o + 1] = Math.round(g / a);
        out[o + 2] = Math.round(b / a);
      }
      out[o + 3] = Math.round((a / n) * 255);
    }
  }
  return out;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ISO 3309, as PNG chunks use it). */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of bytes) c = (CRC_TABLE[(c ^ byte) & 255] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const out = Buffer.alloc(8 + data.length + 4);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), 8 + data.length);
  return out;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A PNG file: 8-bit RGBA, no interlace, filter type 0 on every row. */
export function encodePng(rgba: Uint8Array, width: number, height: number): Buffer {
  if (rgba.length !== width * height * 4) {
    throw new Error(
      `encodePng: expected ${width * height * 4} bytes for ${width}x${height} RGBA, got ${rgba.length}`,
    );
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // colour type: RGBA
  const stride = width * 4;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (stride + 1)] = 0;
    Buffer.from(rgba.buffer, rgba.byteOffset + y * stride, stride).copy(raw, y * (stride + 1) + 1);
  }
  return Buffer.concat([
    PNG_SIGNATURE,
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/** One shape as an SVG element, coordinates in a 0..100 viewBox. */
function svgElement(s: Shape): string {
  const f = (v: number) => String(Math.round(v * 1000) / 10);
  switch (s.kind) {
    case 'roundRect':
      return `<rect x="${f(s.x0)}" y="${f(s.y0)}" width="${f(s.x1 - s.x0)}" height="${f(s.y1 - s.y0)}" rx="${f(s.radius)}" fill="${s.color}"/>`;
    case 'capsule':
      return `<line x1="${f(s.x0)}" y1="${f(s.y)}" x2="${f(s.x1)}" y2="${f(s.y)}" stroke="${s.color}" stroke-width="${f(s.width)}" stroke-linecap="round"/>`;
    case 'circle':
      return `<circle cx="${f(s.cx)}" cy="${f(s.cy)}" r="${f(s.r)}" fill="${s.color}"/>`;
  }
}

/** The same scene as SVG (the favicon). */
export function toSvg(shapes: readonly Shape[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100"><title>lorafuse</title>${shapes.map(svgElement).join('')}</svg>\n`;
}

function main(): void {
  for (const icon of ICONS) {
    const png = encodePng(rasterize(scene(icon.maskable), icon.size), icon.size, icon.size);
    writeFileSync(join(PUBLIC_DIR, icon.file), png);
    console.log(`${icon.file}: ${icon.size}x${icon.size}, ${png.length} bytes`);
  }
  writeFileSync(join(PUBLIC_DIR, 'favicon.svg'), toSvg(scene(false)));
  console.log('favicon.svg');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
