/**
 * An X/Y sheet: N RGBA images laid out in rows and columns (row-major, image i in row
 * floor(i / columns), column i % columns), with an optional label strip above the columns (X values)
 * and left of the rows (Y values). This file does the layout and the pixel copy; the labels are
 * drawn afterwards by whoever has text rendering (the app, with a canvas) into the returned
 * rectangles.
 *
 * A column is as wide as its widest image and a row as tall as its tallest (so an axis over image
 * size still makes a sheet); an image is centred in its cell; empty cells (a `null` image, or past
 * the last image) show the background.
 */
import { LorafuseError } from '../../errors.ts';

export interface RgbaImage {
  width: number;
  height: number;
  /** width * height * 4 bytes, rows top to bottom, straight alpha. */
  data: Uint8Array | Uint8ClampedArray;
}

export interface Size {
  width: number;
  height: number;
}

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface GridOptions {
  /** Images per row (the X axis length). */
  columns: number;
  /** Number of rows (the Y axis length); at least ceil(images / columns), which is the default. */
  rows?: number;
  /** Pixels between cells, and between the label strips and the cells (default 0). */
  gap?: number;
  /** Pixels around the whole sheet (default 0). */
  margin?: number;
  /** Height of the strip above the columns for X labels (default 0: none). */
  columnLabelHeight?: number;
  /** Width of the strip left of the rows for Y labels (default 0: none). */
  rowLabelWidth?: number;
  /** RGBA of the background, strips and empty cells (default opaque white). */
  background?: readonly [number, number, number, number];
}

export interface GridLayout {
  width: number;
  height: number;
  rows: number;
  columns: number;
  /** Every cell, row-major (`rows * columns` of them); image i belongs to cell i. */
  cells: Rect[];
  /** Where each image is drawn (centred in its cell); null for a missing image. */
  images: (Rect | null)[];
  /** One rectangle per column for its X label; empty when there is no label strip. */
  columnLabels: Rect[];
  /** One rectangle per row for its Y label; empty when there is no label strip. */
  rowLabels: Rect[];
  /** The top-left corner where both strips meet (for axis names); null unless both exist. */
  corner: Rect | null;
}

const MAX_BYTES = 0x7fffffff;

function invalid(message: string, details: Record<string, unknown> = {}): LorafuseError {
  return new LorafuseError('invalid-argument', message, details);
}

function checkCount(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min)
    throw invalid(`Grid ${name} must be an integer >= ${min}, got ${v}.`, { [name]: v });
}

/** Positions of consecutive spans of the given lengths, starting at `start`, `gap` apart. */
function offsets(lengths: readonly number[], start: number, gap: number): number[] {
  const out: number[] = [];
  let at = start;
  for (const len of lengths) {
    out.push(at);
    at += len + gap;
  }
  return out;
}

/** The sheet's size and every rectangle, for images of the given sizes (null: no image). */
export function gridLayout(sizes: readonly (Size | null)[], options: GridOptions): GridLayout {
  const { columns, gap = 0, margin = 0, columnLabelHeight = 0, rowLabelWidth = 0 } = options;
  checkCount('columns', columns, 1);
  for (const [name, v] of Object.entries({ gap, margin, columnLabelHeight, rowLabelWidth }))
    checkCount(name, v, 0);
  const rows = options.rows ?? Math.max(1, Math.ceil(sizes.length / columns));
  checkCount('rows', rows, 1);
  if (sizes.length > rows * columns) {
    throw invalid(
      `Grid of ${rows} x ${columns} cells cannot hold ${sizes.length} images; add rows or columns.`,
      {
        rows,
        columns,
        images: sizes.length,
      },
    );
  }
  sizes.forEach((s, i) => {
    if (s && (!Number.isInteger(s.width) || !Number.isInteger(s.height) || s.width < 1 || s.height < 1)) {
      throw invalid(`Grid image ${i} has size ${s.width}x${s.height}; sizes must be positive integers.`, {
        index: i,
      });
    }
  });
  const present = sizes.filter((s): s is Size => s !== null);
  if (present.length === 0) throw invalid('A grid needs at least one image.', { images: sizes.length });
  const fallbackW = Math.max(...present.map((s) => s.width));
  const fallbackH = Math.max(...present.map((s) => s.height));
  const colW = Array.from({ length: columns }, (_, c) => {
    const ws = sizes.filter((s, i) => s && i % columns === c).map((s) => s!.width);
    return ws.length ? Math.max(...ws) : fallbackW;
  });
  const rowH = Array.from({ length: rows }, (_, r) => {
    const hs = sizes.filter((s, i) => s && Math.floor(i / columns) === r).map((s) => s!.height);
    return hs.length ? Math.max(...hs) : fallbackH;
  });
  const x0 = margin + (rowLabelWidth > 0 ? rowLabelWidth + gap : 0);
  const y0 = margin + (columnLabelHeight > 0 ? columnLabelHeight + gap : 0);
  const xs = offsets(colW, x0, gap);
  const ys = offsets(rowH, y0, gap);
  const width = xs[columns - 1]! + colW[columns - 1]! + margin;
  const height = ys[rows - 1]! + rowH[rows - 1]! + margin;
  if (width * height * 4 > MAX_BYTES) {
    throw invalid(
      `The grid would be ${width}x${height} pixels, too large for one image; use fewer or smaller images.`,
      {
        width,
        height,
      },
    );
  }
  const cells: Rect[] = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < columns; c++) cells.push({ x: xs[c]!, y: ys[r]!, width: colW[c]!, height: rowH[r]! });
  }
  const images = sizes.map((s, i): Rect | null => {
    if (!s) return null;
    const cell = cells[i]!;
    return {
      x: cell.x + Math.floor((cell.width - s.width) / 2),
      y: cell.y + Math.floor((cell.height - s.height) / 2),
      width: s.width,
      height: s.height,
    };
  });
  const columnLabels =
    columnLabelHeight > 0
      ? xs.map((x, c) => ({ x, y: margin, width: colW[c]!, height: columnLabelHeight }))
      : [];
  const rowLabels =
    rowLabelWidth > 0 ? ys.map((y, r) => ({ x: margin, y, width: rowLabelWidth, height: rowH[r]! })) : [];
  const corner =
    columnLabelHeight > 0 && rowLabelWidth > 0
      ? { x: margin, y: margin, width: rowLabelWidth, height: columnLabelHeight }
      : null;
  return { width, height, rows, columns, cells, images, columnLabels, rowLabels, corner };
}

/** Lays out `images` (see `gridLayout`) and copies their pixels onto one background-filled sheet. */
export function composeGrid(
  images: readonly (RgbaImage | null)[],
  options: GridOptions,
): { image: RgbaImage; layout: GridLayout } {
  images.forEach((img, i) => {
    if (img && img.data.length !== img.width * img.height * 4) {
      throw invalid(
        `Grid image ${i} is ${img.width}x${img.height} but has ${img.data.length} bytes; RGBA needs ${img.width * img.height * 4}.`,
        { index: i },
      );
    }
  });
  const background = options.background ?? [255, 255, 255, 255];
  if (background.length !== 4 || !background.every((v) => Number.isInteger(v) && v >= 0 && v <= 255)) {
    throw invalid(`Grid background must be four integers 0..255 (RGBA), got ${JSON.stringify(background)}.`, {
      background,
    });
  }
  const layout = gridLayout(
    images.map((img) => (img ? { width: img.width, height: img.height } : null)),
    options,
  );
  const data = new Uint8Array(layout.width * layout.height * 4);
  const bgRow = new Uint8Array(layout.width * 4);
  for (let x = 0; x < layout.width; x++) bgRow.set(background, x * 4);
  for (let y = 0; y < layout.height; y++) data.set(bgRow, y * layout.width * 4);
  images.forEach((img, i) => {
    const at = layout.images[i];
    if (!img || !at) return;
    const rowBytes = img.width * 4;
    for (let y = 0; y < img.height; y++) {
      data.set(img.data.subarray(y * rowBytes, (y + 1) * rowBytes), ((at.y + y) * layout.width + at.x) * 4);
    }
  });
  return { image: { width: layout.width, height: layout.height, data }, layout };
}
