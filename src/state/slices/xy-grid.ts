import type { StateCreator } from 'zustand';
import type { XyAxisSpec } from '../../core/pipeline/xy-axes.ts';
import type { AppState, Middlewares } from '../store.ts';

export type XyRunStatus = 'idle' | 'running' | 'done' | 'cancelled' | 'error';

/** The finished sheet: a PNG (with its `parameters` chunk) behind an object URL, also in the gallery. */
export interface XyGridResult {
  url: string;
  width: number;
  height: number;
  infotext: string;
  fileName: string;
  /** Where each cell's image lies on the sheet, row-major (`x,y,width,height`). */
  cells: { x: number; y: number; width: number; height: number }[];
}

/** The current or last X/Y plot run, as the X/Y panel shows it. */
export interface XyGridRun {
  status: XyRunStatus;
  /** The cell being generated (1-based) while running; cells finished otherwise. */
  cell: number;
  cells: number;
  /** Set by Cancel; the run stops within the current cell. */
  cancelRequested: boolean;
  result: XyGridResult | null;
}

export const IDLE_XY_RUN: XyGridRun = {
  status: 'idle',
  cell: 0,
  cells: 0,
  cancelRequested: false,
  result: null,
};

export interface XyGridSlice {
  xyAxes: { x: XyAxisSpec; y: XyAxisSpec };
  /** Keep every cell's image in the gallery too (otherwise only the sheet stays). */
  xyKeepCells: boolean;
  xyRun: XyGridRun;
  /** Merges a patch into one axis; the adapter name stays only on a LoRA kind (weight, schedule). */
  setXyAxis(axis: 'x' | 'y', patch: Partial<XyAxisSpec>): void;
  setXyKeepCells(keep: boolean): void;
  updateXyRun(patch: Partial<XyGridRun>): void;
}

export const DEFAULT_XY_AXES: XyGridSlice['xyAxes'] = {
  x: { kind: 'seed', values: '1, 2, 3' },
  y: { kind: 'none', values: '' },
};

export const createXyGridSlice: StateCreator<AppState, Middlewares, [], XyGridSlice> = (set, get) => ({
  xyAxes: DEFAULT_XY_AXES,
  xyKeepCells: false,
  xyRun: IDLE_XY_RUN,
  setXyAxis: (axis, patch) => {
    const { adapterName: _old, ...current } = get().xyAxes[axis];
    const next: XyAxisSpec = { ...current, ...patch };
    const adapterName = patch.adapterName ?? _old;
    const lora = next.kind === 'lora-weight' || next.kind === 'lora-schedule';
    set({ xyAxes: { ...get().xyAxes, [axis]: lora && adapterName ? { ...next, adapterName } : next } });
  },
  setXyKeepCells: (xyKeepCells) => set({ xyKeepCells }),
  updateXyRun: (patch) => set({ xyRun: { ...get().xyRun, ...patch } }),
});
