/**
 * The X/Y plot flow: for every cell of the plan, set the cell's values in the Generate panel and
 * LoRA settings and run the Generate panel's own `generate` action (so a cell is exactly the image
 * Generate would make, with its own infotext in the gallery); then lay the cells out with
 * `composeGrid`, let the app draw the labels, and add the sheet to the gallery as one PNG whose
 * `parameters` chunk is the first cell's infotext plus A1111's `Script: X/Y plot, X Type, X Values,
 * Y Type, Y Values`. The settings the plot changed are put back afterwards, whatever happened.
 */
import { composeGrid, type GridLayout, type RgbaImage, type Size } from '../core/image/grid.ts';
import { PARAMETERS_KEYWORD } from '../core/image/png-chunks.ts';
import { encodePng } from '../core/image/png-encode.ts';
import { formatGenerationParams, parseGenerationParams } from '../core/pipeline/generation-params.ts';
import type { Schedule } from '../core/pipeline/schedule.ts';
import {
  cellPrompt,
  parseAxis,
  planXyGrid,
  type XyPlan,
  type XySetting,
  xyInfotextEntries,
} from '../core/pipeline/xy-axes.ts';
import { LorafuseError } from '../errors.ts';
import type { AppActions } from './actions.ts';
import type { GenerationParams } from './slices/generation.ts';
import type { LoraEntry } from './slices/loras.ts';
import type { XyGridResult } from './slices/xy-grid.ts';
import type { AppState, AppStore } from './store.ts';

export interface SheetLabels {
  /** One per column (X values), one per row (Y values), `title: value`; all '' on a `none` axis. */
  columns: string[];
  rows: string[];
  /** The axes' titles ('' for `none`), for a labeler that writes them once when cells are small. */
  xTitle: string;
  yTitle: string;
}

/** Text on the sheet, drawn by whoever has fonts (the app, with a canvas); tests pass a stub. */
export interface SheetLabeler {
  /** The label strips' sizes for these labels over cells of `cell` size (0: no strip). */
  measure(labels: SheetLabels, cell: Size): { columnLabelHeight: number; rowLabelWidth: number };
  /** The sheet with the labels drawn into `layout.columnLabels` / `layout.rowLabels`. */
  draw(sheet: RgbaImage, layout: GridLayout, labels: SheetLabels): RgbaImage | Promise<RgbaImage>;
}

/** Pixels between cells on the sheet. */
export const SHEET_GAP = 4;

/** The plan of the X/Y panel's axes against the current prompt; throws `invalid-argument`. */
export function planFromState(
  s: Pick<AppState, 'xyAxes' | 'loras'> & { generation: Pick<GenerationParams, 'prompt'> },
): XyPlan {
  const plan = planXyGrid(parseAxis(s.xyAxes.x), parseAxis(s.xyAxes.y), { prompt: s.generation.prompt });
  for (const axis of [plan.x, plan.y]) {
    if (axis.adapterName !== undefined && !s.loras.some((l) => l.adapterName === axis.adapterName)) {
      const names = s.loras.map((l) => l.adapterName);
      throw new LorafuseError(
        'invalid-argument',
        `The ${axis.title} axis sets adapter "${axis.adapterName}", which is not loaded (loaded: ${
          names.length ? names.join(', ') : 'none'
        }). Pick a loaded LoRA.`,
        { adapterName: axis.adapterName },
      );
    }
  }
  return plan;
}

/** The first cell's infotext with the plot's axes added, as A1111 writes a grid's. */
export function xyGridInfotext(cellInfotext: string, plan: Pick<XyPlan, 'x' | 'y'>): string {
  const p = parseGenerationParams(cellInfotext);
  return formatGenerationParams({ ...p, extra: { ...p.extra, ...xyInfotextEntries(plan) } });
}

/** What the plot may change, as it was before: put back with `restoreSettings`. */
interface Snapshot {
  generation: Partial<GenerationParams>;
  loras: Pick<LoraEntry, 'adapterName' | 'weight' | 'enabled' | 'schedule'>[];
  loraScale?: number;
}

function snapshot(s: AppState, plan: XyPlan): Snapshot {
  const settings = plan.cells.flatMap((c) => c.settings);
  const has = (kind: XySetting['kind']) => settings.some((x) => x.kind === kind);
  const g = s.generation;
  const generation: Partial<GenerationParams> = {
    ...(has('seed') ? { seed: g.seed } : {}),
    ...(has('steps') ? { numInferenceSteps: g.numInferenceSteps } : {}),
    ...(has('guidance') ? { guidanceScale: g.guidanceScale } : {}),
    ...(has('scheduler') ? { scheduler: g.scheduler } : {}),
    ...(has('prompt-sr') ? { prompt: g.prompt } : {}),
  };
  const names = new Set(
    settings.flatMap((x) => (x.kind === 'lora-weight' || x.kind === 'lora-schedule' ? [x.adapterName] : [])),
  );
  const loras = s.loras
    .filter((l) => names.has(l.adapterName))
    .map((l) => ({
      adapterName: l.adapterName,
      weight: l.weight,
      enabled: l.enabled,
      ...(l.schedule !== undefined ? { schedule: l.schedule } : {}),
    }));
  return { generation, loras, ...(has('scale') ? { loraScale: s.loraScale } : {}) };
}

function restoreSettings(store: AppStore, snap: Snapshot): void {
  const s = store.getState();
  s.setGenerationParams(snap.generation);
  for (const l of snap.loras) {
    // An adapter removed during the run has nothing to restore.
    if (!store.getState().loras.some((x) => x.adapterName === l.adapterName)) continue;
    s.setLoraWeight(l.adapterName, l.weight);
    s.setLoraEnabled(l.adapterName, l.enabled);
    s.setLoraSchedule(l.adapterName, l.schedule as Schedule | undefined);
  }
  if (snap.loraScale !== undefined) s.setLoraScale(snap.loraScale);
}

/** Sets one cell's values; every axis setting starts from the snapshot (the prompt as typed). */
function applyCell(
  store: AppStore,
  snap: Snapshot,
  basePrompt: string,
  settings: readonly XySetting[],
): void {
  const s = store.getState();
  const patch: Partial<GenerationParams> = {};
  for (const x of settings) {
    switch (x.kind) {
      case 'seed':
        patch.seed = x.value;
        break;
      case 'steps':
        patch.numInferenceSteps = x.value;
        break;
      case 'guidance':
        patch.guidanceScale = x.value;
        break;
      case 'scheduler':
        patch.scheduler = x.value;
        break;
      case 'prompt-sr':
        patch.prompt = cellPrompt(basePrompt, settings);
        break;
      case 'scale':
        s.setLoraScale(x.value);
        break;
      case 'lora-weight':
        // An axis over an adapter's weight means the adapter takes part, even if it was off.
        s.setLoraEnabled(x.adapterName, true);
        s.setLoraWeight(x.adapterName, x.value);
        break;
      case 'lora-schedule':
        s.setLoraEnabled(x.adapterName, true);
        s.setLoraSchedule(x.adapterName, x.value);
        break;
    }
  }
  if (snap.generation.prompt !== undefined && patch.prompt === undefined) patch.prompt = basePrompt;
  s.setGenerationParams(patch);
}

function toGridImage(image: { width: number; height: number; rgba: Uint8ClampedArray }): RgbaImage {
  return { width: image.width, height: image.height, data: image.rgba };
}

/**
 * Runs the X/Y panel's plot: one `actions.generate()` per cell, in order, with progress in
 * `xyRun` (`cell` i of `cells`); stops at Cancel or at a cell that fails (the Generate flow shows
 * its error). Resolves when the run is over; the sheet is in `xyRun.result` and the gallery.
 */
export async function runXyGrid(store: AppStore, actions: AppActions, labeler: SheetLabeler): Promise<void> {
  const s = store.getState();
  if (s.xyRun.status === 'running' || s.run.status === 'running') return;
  s.dismissError();
  let plan: XyPlan;
  try {
    plan = planFromState(s);
  } catch (e) {
    s.updateXyRun({ status: 'error', cell: 0, cells: 0, result: null, cancelRequested: false });
    s.showError(e);
    return;
  }
  const total = plan.cells.length;
  const snap = snapshot(s, plan);
  const basePrompt = s.generation.prompt;
  const keepCells = s.xyKeepCells;
  s.updateXyRun({ status: 'running', cell: 0, cells: total, result: null, cancelRequested: false });
  const images: RgbaImage[] = [];
  const cellGalleryIds: number[] = [];
  let firstInfotext: string | undefined;
  try {
    for (const cell of plan.cells) {
      if (store.getState().xyRun.cancelRequested) break;
      applyCell(store, snap, basePrompt, cell.settings);
      store.getState().updateXyRun({ cell: cell.index + 1 });
      const before = new Set(store.getState().gallery.map((g) => g.id));
      await actions.generate();
      const after = store.getState();
      const added = after.gallery.find((g) => !before.has(g.id));
      if (added) cellGalleryIds.push(added.id);
      if (after.run.status !== 'done' || !after.run.result || !added) {
        const ended = after.run.status === 'cancelled' ? 'cancelled' : 'error';
        if (after.run.status === 'running' || (after.run.status === 'done' && !added)) {
          after.showError(
            new LorafuseError(
              'internal',
              `X/Y plot: cell ${cell.index + 1} of ${total} did not finish as a gallery image; run the plot again.`,
              { cell: cell.index + 1 },
            ),
          );
        }
        after.updateXyRun({ status: ended, cell: images.length });
        return;
      }
      images.push(toGridImage(after.run.result.image));
      firstInfotext ??= added.infotext;
    }
    if (images.length < total) {
      store.getState().updateXyRun({ status: 'cancelled', cell: images.length });
      return;
    }
    const result = await composeSheet(plan, images, labeler, xyGridInfotext(firstInfotext!, plan));
    const gallery = store.getState().gallery;
    const id = Math.min(0, ...gallery.map((g) => g.id)) - 1;
    const fileName = `lorafuse-xy-${String(-id).padStart(3, '0')}.png`;
    const url = URL.createObjectURL(new Blob([result.png as Uint8Array<ArrayBuffer>], { type: 'image/png' }));
    const st = store.getState();
    st.addGalleryImage({
      id,
      url,
      width: result.width,
      height: result.height,
      infotext: result.infotext,
      fileName,
    });
    st.updateXyRun({
      status: 'done',
      cell: total,
      result: {
        url,
        width: result.width,
        height: result.height,
        infotext: result.infotext,
        fileName,
        cells: result.cells,
      },
    });
  } catch (e) {
    store.getState().updateXyRun({ status: 'error', cell: images.length });
    store.getState().showError(e);
  } finally {
    if (!keepCells) for (const id of cellGalleryIds) store.getState().removeGalleryImage(id);
    try {
      restoreSettings(store, snap);
    } catch (e) {
      store.getState().showError(e);
    }
  }
}

/** The labelled sheet as a PNG with its `parameters` chunk, and where each cell lies on it. */
export async function composeSheet(
  plan: Pick<XyPlan, 'x' | 'y' | 'columns' | 'rows' | 'columnLabels' | 'rowLabels'>,
  images: readonly RgbaImage[],
  labeler: SheetLabeler,
  infotext: string,
): Promise<{
  png: Uint8Array;
  width: number;
  height: number;
  infotext: string;
  cells: XyGridResult['cells'];
}> {
  const labels: SheetLabels = {
    columns: plan.columnLabels,
    rows: plan.rowLabels,
    xTitle: plan.x.title,
    yTitle: plan.y.title,
  };
  const cell = {
    width: Math.max(...images.map((i) => i.width)),
    height: Math.max(...images.map((i) => i.height)),
  };
  const strips = labeler.measure(labels, cell);
  const { image, layout } = composeGrid(images, {
    columns: plan.columns,
    rows: plan.rows,
    gap: SHEET_GAP,
    columnLabelHeight: labels.columns.some((l) => l !== '') ? strips.columnLabelHeight : 0,
    rowLabelWidth: labels.rows.some((l) => l !== '') ? strips.rowLabelWidth : 0,
  });
  const sheet = await labeler.draw(image, layout, labels);
  const png = await encodePng(sheet.data, sheet.width, sheet.height, {
    text: [{ keyword: PARAMETERS_KEYWORD, text: infotext }],
  });
  const cells = layout.images.map((r) => r ?? { x: 0, y: 0, width: 0, height: 0 });
  return { png, width: sheet.width, height: sheet.height, infotext, cells };
}

/** Cancel: no further cell starts, and the running one stops within a step. */
export async function cancelXyGrid(store: AppStore, actions: AppActions): Promise<void> {
  const s = store.getState();
  if (s.xyRun.status !== 'running') return;
  s.updateXyRun({ cancelRequested: true });
  await actions.cancelGeneration();
}
