/**
 * The X/Y sheet's text, drawn with a 2D canvas (OffscreenCanvas where there is one): X labels
 * centred above their column, Y labels centred left of their row, wrapped at word boundaries to
 * the strip's width, dark on the sheet's white, in a font sized to the cells as A1111 does.
 */
import type { GridLayout, Rect, RgbaImage, Size } from '../core/image/grid.ts';
import type { SheetLabeler, SheetLabels } from '../state/xy-grid-run.ts';

const PAD = 4;
const INK = '#111111';

type Ctx = OffscreenCanvasRenderingContext2D | CanvasRenderingContext2D;

function canvas2d(width: number, height: number): Ctx {
  const c: OffscreenCanvas | HTMLCanvasElement =
    typeof OffscreenCanvas !== 'undefined'
      ? new OffscreenCanvas(width, height)
      : Object.assign(document.createElement('canvas'), { width, height });
  const ctx = c.getContext('2d') as Ctx | null;
  if (!ctx) throw new Error('This browser gives no 2D canvas, which the X/Y sheet labels need.');
  return ctx;
}

function fontSize(cell: Size): number {
  return Math.max(11, Math.min(32, Math.round(Math.min(cell.width, cell.height) / 14)));
}

function setFont(ctx: Ctx, size: number): void {
  ctx.font = `${size}px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif`;
}

/** `text` broken into lines no wider than `width` (words longer than that are cut by character). */
function wrap(ctx: Ctx, text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  const fits = (s: string) => ctx.measureText(s).width <= width;
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const next = line ? `${line} ${word}` : word;
    if (fits(next)) {
      line = next;
      continue;
    }
    if (line) lines.push(line);
    line = '';
    let rest = word;
    while (!fits(rest) && rest.length > 1) {
      let n = rest.length - 1;
      while (n > 1 && !fits(rest.slice(0, n))) n--;
      lines.push(rest.slice(0, n));
      rest = rest.slice(n);
    }
    line = rest;
  }
  if (line) lines.push(line);
  return lines;
}

function drawCentred(ctx: Ctx, lines: string[], rect: Rect, lineHeight: number): void {
  const top = rect.y + (rect.height - lines.length * lineHeight) / 2;
  lines.forEach((l, i) => {
    ctx.fillText(l, rect.x + rect.width / 2, top + (i + 0.5) * lineHeight, rect.width);
  });
}

/** What the strips show: `title: value` per cell, or (compact) values with the titles in the corner. */
interface Texts {
  columns: string[];
  rows: string[];
  corner: string;
}

const axisValueText = (label: string, title: string) =>
  title && label.startsWith(`${title}: `) ? label.slice(title.length + 2) : label;

/**
 * A1111 writes `title: value` over every column; when that needs more than two lines in a cell's
 * width (small cells), the strips show the values alone and the corner says which axis is which.
 */
function texts(ctx: Ctx, labels: SheetLabels, cell: Size): Texts {
  const full = { columns: labels.columns, rows: labels.rows, corner: '' };
  const tooTall = labels.columns.some((l) => wrap(ctx, l, cell.width - 2 * PAD).length > 2);
  const tooWide = labels.rows.some((l) => ctx.measureText(l).width > Math.max(cell.width, 120));
  if (!tooTall && !tooWide) return full;
  const xs = labels.xTitle ? `${labels.xTitle} →` : '';
  const ys = labels.yTitle ? `${labels.yTitle} ↓` : '';
  return {
    columns: labels.columns.map((l) => axisValueText(l, labels.xTitle)),
    rows: labels.rows.map((l) => axisValueText(l, labels.yTitle)),
    corner: [xs, ys].filter(Boolean).join(' '),
  };
}

export function canvasSheetLabeler(): SheetLabeler {
  let size = 12;
  let chosen: Texts = { columns: [], rows: [], corner: '' };
  return {
    measure(labels: SheetLabels, cell: Size) {
      size = fontSize(cell);
      const ctx = canvas2d(1, 1);
      setFont(ctx, size);
      chosen = texts(ctx, labels, cell);
      const lineHeight = Math.ceil(size * 1.25);
      const hasRows = chosen.rows.some((l) => l !== '');
      const widest = Math.max(
        0,
        ...chosen.rows.map((l) => ctx.measureText(l).width),
        // The corner's words must fit the row strip's width.
        ...(hasRows ? chosen.corner.split(/\s+/).map((w) => ctx.measureText(w).width) : []),
      );
      const rowLabelWidth = Math.ceil(Math.min(widest, Math.max(cell.width, 120)) + 2 * PAD);
      const lines = (l: string, width: number) => wrap(ctx, l, width - 2 * PAD).length;
      const columnLines = Math.max(
        0,
        ...chosen.columns.map((l) => lines(l, cell.width)),
        hasRows && chosen.corner ? lines(chosen.corner, rowLabelWidth) : 0,
      );
      return { columnLabelHeight: columnLines * lineHeight + 2 * PAD, rowLabelWidth };
    },
    draw(sheet: RgbaImage, layout: GridLayout, _labels: SheetLabels): RgbaImage {
      const ctx = canvas2d(sheet.width, sheet.height);
      ctx.putImageData(new ImageData(new Uint8ClampedArray(sheet.data), sheet.width, sheet.height), 0, 0);
      setFont(ctx, size);
      ctx.fillStyle = INK;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      const lineHeight = Math.ceil(size * 1.25);
      const put = (text: string, r: Rect) =>
        drawCentred(ctx, wrap(ctx, text, r.width - 2 * PAD), r, lineHeight);
      for (const [i, r] of layout.columnLabels.entries()) put(chosen.columns[i] ?? '', r);
      for (const [i, r] of layout.rowLabels.entries()) put(chosen.rows[i] ?? '', r);
      if (layout.corner && chosen.corner) put(chosen.corner, layout.corner);
      const out = ctx.getImageData(0, 0, sheet.width, sheet.height);
      return { width: sheet.width, height: sheet.height, data: out.data };
    },
  };
}
