/** Expected rectangles are worked out by hand in the comments; pixels are checked one by one. */
import { describe, expect, it } from 'vitest';
import { composeGrid, gridLayout, type RgbaImage } from '../../src/core/image/grid.ts';
import { LorafuseError } from '../../src/errors.ts';
import { randomBytes } from './png-helpers.ts';

function image(width: number, height: number, seed: number): RgbaImage {
  return { width, height, data: randomBytes(width * height * 4, seed) };
}

function pixel(img: RgbaImage, x: number, y: number): number[] {
  const i = (y * img.width + x) * 4;
  return Array.from(img.data.subarray(i, i + 4));
}

describe('gridLayout', () => {
  it('places three 64x48 images in 2 columns with gap, margin and both label strips', () => {
    // x0 = margin 8 + row strip 30 + gap 4 = 42; columns at 42 and 42 + 64 + 4 = 110; width 110 + 64 + 8.
    // y0 = 8 + 20 + 4 = 32; rows at 32 and 32 + 48 + 4 = 84; height 84 + 48 + 8.
    const s = { width: 64, height: 48 };
    const l = gridLayout([s, s, s], {
      columns: 2,
      gap: 4,
      margin: 8,
      columnLabelHeight: 20,
      rowLabelWidth: 30,
    });
    expect([l.width, l.height, l.rows, l.columns]).toEqual([182, 140, 2, 2]);
    expect(l.cells).toEqual([
      { x: 42, y: 32, width: 64, height: 48 },
      { x: 110, y: 32, width: 64, height: 48 },
      { x: 42, y: 84, width: 64, height: 48 },
      { x: 110, y: 84, width: 64, height: 48 },
    ]);
    expect(l.images).toEqual(l.cells.slice(0, 3));
    expect(l.columnLabels).toEqual([
      { x: 42, y: 8, width: 64, height: 20 },
      { x: 110, y: 8, width: 64, height: 20 },
    ]);
    expect(l.rowLabels).toEqual([
      { x: 8, y: 32, width: 30, height: 48 },
      { x: 8, y: 84, width: 30, height: 48 },
    ]);
    expect(l.corner).toEqual({ x: 8, y: 8, width: 30, height: 20 });
  });

  it('sizes columns and rows by their largest image and centres smaller ones', () => {
    // Column widths: col 0 max(10) = 10 (index 2 is empty), col 1 max(6, 3) = 6.
    // Row heights: row 0 max(4, 8) = 8, row 1 max(3) = 3. No gap or margin: 16 x 11.
    const l = gridLayout([{ width: 10, height: 4 }, { width: 6, height: 8 }, null, { width: 3, height: 3 }], {
      columns: 2,
    });
    expect([l.width, l.height]).toEqual([16, 11]);
    expect(l.images).toEqual([
      { x: 0, y: 2, width: 10, height: 4 }, // (8 - 4) / 2 = 2 down
      { x: 10, y: 0, width: 6, height: 8 },
      null,
      { x: 11, y: 8, width: 3, height: 3 }, // floor((6 - 3) / 2) = 1 right
    ]);
    expect(l.columnLabels).toEqual([]);
    expect(l.rowLabels).toEqual([]);
    expect(l.corner).toBeNull();
  });

  it('honours an explicit row count with empty rows (fallback to the largest image)', () => {
    const l = gridLayout([{ width: 5, height: 7 }], { columns: 3, rows: 2, gap: 1 });
    expect(l.cells).toHaveLength(6);
    expect([l.width, l.height]).toEqual([5 * 3 + 2, 7 * 2 + 1]);
  });

  it('refuses impossible grids', () => {
    const s = { width: 2, height: 2 };
    const bad: [() => unknown, RegExp][] = [
      [() => gridLayout([s, s, s], { columns: 1, rows: 2 }), /2 x 1 cells cannot hold 3 images/],
      [() => gridLayout([s], { columns: 0 }), /columns must be an integer >= 1/],
      [() => gridLayout([s], { columns: 1, gap: -1 }), /gap must be an integer >= 0/],
      [() => gridLayout([null, null], { columns: 2 }), /at least one image/],
      [() => gridLayout([{ width: 0, height: 2 }], { columns: 1 }), /image 0 has size 0x2/],
      [() => gridLayout([{ width: 40000, height: 40000 }], { columns: 1 }), /too large/],
      [
        () => composeGrid([{ width: 2, height: 2, data: new Uint8Array(15) }], { columns: 1 }),
        /has 15 bytes; RGBA needs 16/,
      ],
      [
        () =>
          composeGrid([image(1, 1, 1)], {
            columns: 1,
            background: [0, 0, 256, 0] as unknown as [number, number, number, number],
          }),
        /background must be four integers/,
      ],
    ];
    for (const [run, message] of bad) {
      let err: unknown;
      try {
        run();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(LorafuseError);
      expect((err as LorafuseError).code).toBe('invalid-argument');
      expect((err as LorafuseError).message).toMatch(message);
    }
  });
});

describe('composeGrid', () => {
  it('copies every pixel of every image to its rectangle and fills the rest with the background', () => {
    const imgs = [image(10, 4, 1), image(6, 8, 2), null, image(3, 3, 3), image(7, 5, 4)];
    const bg = [12, 34, 56, 200];
    const opts = {
      columns: 2,
      gap: 3,
      margin: 2,
      columnLabelHeight: 5,
      rowLabelWidth: 9,
      background: bg as [number, number, number, number],
    };
    const { image: sheet, layout } = composeGrid(imgs, opts);
    expect(layout).toEqual(
      gridLayout(
        imgs.map((i) => (i ? { width: i.width, height: i.height } : null)),
        opts,
      ),
    );
    expect(sheet.data.length).toBe(sheet.width * sheet.height * 4);
    for (let y = 0; y < sheet.height; y++) {
      for (let x = 0; x < sheet.width; x++) {
        let want = bg;
        imgs.forEach((img, i) => {
          const r = layout.images[i];
          if (img && r && x >= r.x && x < r.x + r.width && y >= r.y && y < r.y + r.height)
            want = pixel(img, x - r.x, y - r.y);
        });
        expect(pixel(sheet, x, y)).toEqual(want);
      }
    }
  });

  it('accepts Uint8ClampedArray images', () => {
    const a = image(2, 2, 5);
    const { image: sheet } = composeGrid([{ ...a, data: new Uint8ClampedArray(a.data) }], { columns: 1 });
    expect(sheet.data).toEqual(a.data);
  });
});
