import type { StateCreator } from 'zustand';
import type { LoraSummary, UNetBlockLayout } from '../../api.ts';
import { evaluateSchedule, type Schedule, validateSchedule } from '../../core/pipeline/schedule.ts';
import { LorafuseError } from '../../errors.ts';
import type { AppState, Middlewares } from '../store.ts';

/**
 * Where a LoRA file comes from: a Hub repo and the file in it (Diffusers' `weight_name`), a URL,
 * or a local file (its bytes went to the engine; only the name and size are kept here).
 */
export type LoraSource =
  | { repo: string; weightName: string; revision?: string }
  | { url: string }
  | { fileName: string; size: number }
  /** Made by the Merge dialog (`addWeightedAdapter`) from these adapters, with this method. */
  | { merged: { from: string[]; method: string } };

/**
 * Block multipliers of the UNet, keyed as Diffusers' block dict (`{down: {block_0: 1}, mid: 1,
 * up: {block_1: 1}}`), one number per block that has attentions. The adapter weight multiplies them.
 */
export interface UNetBlockWeights {
  down: Record<string, number>;
  mid: number;
  up: Record<string, number>;
}

export interface LoraEntry {
  /** Unique, like Diffusers' `adapter_name`. */
  adapterName: string;
  source: LoraSource;
  /** The adapter weight of `set_adapters`. */
  weight: number;
  enabled: boolean;
  /**
   * Per-step multiplier of `weight` (schedule.ts: a number, per-step values or keyframes);
   * absent means 1 at every step.
   */
  schedule?: Schedule;
  /** UNet block multipliers; absent means the same weight everywhere. */
  blockWeights?: UNetBlockWeights;
  /** What the file holds, as the engine read it. */
  summary?: LoraSummary;
}

/** Range of the weight sliders (the number box takes any finite value). */
export interface WeightRange {
  min: number;
  max: number;
}

/** A LoRA download / conversion in progress, for the panel's progress line. */
export interface LoraTask {
  /** What is being read (repo/file, URL or file name). */
  file: string;
  loaded: number;
  /** 0 when unknown. */
  total: number;
  /** The adapter being replaced, for a hotswap. */
  replacing?: string;
}

/** An adapter folded into the model's weights (`fuseLora`), at `weight * loraScale`. */
export interface FusedLora {
  adapterName: string;
  weight: number;
  loraScale: number;
}

export interface LorasSlice {
  loras: LoraEntry[];
  /** What the engine has fused now, in fuse order; empty after unfuse or a model load. */
  fusedLoras: FusedLora[];
  /** The global LoRA scale (Diffusers' `cross_attention_kwargs={"scale": s}`). */
  loraScale: number;
  /** Per-step multiplier of `loraScale`; 1 is constant. */
  loraScaleSchedule: Schedule;
  loraWeightRange: WeightRange;
  loraTask: LoraTask | null;
  /** Throws `invalid-argument` when the adapter name is taken. */
  addLora(entry: LoraEntry): void;
  removeLora(adapterName: string): void;
  setLoraWeight(adapterName: string, weight: number): void;
  setLoraEnabled(adapterName: string, enabled: boolean): void;
  /** `undefined` clears the schedule (constant weight). */
  setLoraSchedule(adapterName: string, schedule: Schedule | undefined): void;
  /** `undefined` clears the block multipliers. */
  setLoraBlockWeights(adapterName: string, blockWeights: UNetBlockWeights | undefined): void;
  /** Hotswap in the UI: a new file under the same name, keeping weight, schedule and toggle. */
  replaceLoraFile(adapterName: string, source: LoraSource, summary: LoraSummary): void;
  setLoraScale(scale: number): void;
  setLoraScaleSchedule(schedule: Schedule): void;
  setLoraWeightRange(range: WeightRange): void;
  setLoraTask(task: LoraTask | null): void;
  setFusedLoras(fused: FusedLora[]): void;
}

export const DEFAULT_WEIGHT_RANGE: WeightRange = { min: -2, max: 2 };

export const createLorasSlice: StateCreator<AppState, Middlewares, [], LorasSlice> = (set, get) => {
  /** Replaces one entry by name; an unknown name is an error naming the adapters there are. */
  const update = (adapterName: string, patch: (l: LoraEntry) => LoraEntry): void => {
    const { loras } = get();
    if (!loras.some((l) => l.adapterName === adapterName)) throw unknownAdapter(adapterName, loras);
    set({ loras: loras.map((l) => (l.adapterName === adapterName ? patch(l) : l)) });
  };
  return {
    loras: [],
    fusedLoras: [],
    loraScale: 1,
    loraScaleSchedule: 1,
    loraWeightRange: DEFAULT_WEIGHT_RANGE,
    loraTask: null,
    addLora: (entry) => {
      const { loras } = get();
      if (loras.some((l) => l.adapterName === entry.adapterName)) {
        throw new LorafuseError(
          'invalid-argument',
          `Adapter name "${entry.adapterName}" is already in use. Pick another name or remove the existing adapter first.`,
          { adapterName: entry.adapterName },
        );
      }
      if (!entry.adapterName.trim()) {
        throw new LorafuseError(
          'invalid-argument',
          'An adapter needs a name; type one or leave the default.',
          {
            adapterName: entry.adapterName,
          },
        );
      }
      checkWeight(entry.adapterName, entry.weight);
      if (entry.schedule !== undefined) checkSchedule(entry.adapterName, entry.schedule);
      if (entry.blockWeights) checkBlockWeights(entry.adapterName, entry.blockWeights);
      set({ loras: [...loras, entry] });
    },
    removeLora: (adapterName) => {
      const { loras } = get();
      if (!loras.some((l) => l.adapterName === adapterName)) throw unknownAdapter(adapterName, loras);
      set({ loras: loras.filter((l) => l.adapterName !== adapterName) });
    },
    setLoraWeight: (adapterName, weight) => {
      checkWeight(adapterName, weight);
      update(adapterName, (l) => ({ ...l, weight }));
    },
    setLoraEnabled: (adapterName, enabled) => update(adapterName, (l) => ({ ...l, enabled })),
    setLoraSchedule: (adapterName, schedule) => {
      if (schedule !== undefined) checkSchedule(adapterName, schedule);
      update(adapterName, ({ schedule: _old, ...l }) => (schedule === undefined ? l : { ...l, schedule }));
    },
    setLoraBlockWeights: (adapterName, blockWeights) => {
      if (blockWeights) checkBlockWeights(adapterName, blockWeights);
      update(adapterName, ({ blockWeights: _old, ...l }) => (blockWeights ? { ...l, blockWeights } : l));
    },
    replaceLoraFile: (adapterName, source, summary) =>
      update(adapterName, (l) => {
        const { blockWeights, ...rest } = l;
        // Block multipliers stay only while the new file's base has the same attention blocks.
        const keep = blockWeights && sameLayout(l.summary?.unetBlocks ?? null, summary.unetBlocks);
        return { ...rest, source, summary, ...(keep ? { blockWeights } : {}) };
      }),
    setLoraScale: (scale) => {
      if (!Number.isFinite(scale)) {
        throw new LorafuseError('invalid-argument', `The LoRA scale must be a finite number, got ${scale}.`, {
          scale,
        });
      }
      set({ loraScale: scale });
    },
    setLoraScaleSchedule: (schedule) => {
      checkSchedule('scale', schedule);
      set({ loraScaleSchedule: schedule });
    },
    setLoraWeightRange: (range) => {
      if (!(Number.isFinite(range.min) && Number.isFinite(range.max) && range.min < range.max)) {
        throw new LorafuseError(
          'invalid-argument',
          `The weight slider range needs finite min < max, got ${range.min}..${range.max}.`,
          { min: range.min, max: range.max },
        );
      }
      set({ loraWeightRange: { min: range.min, max: range.max } });
    },
    setLoraTask: (loraTask) => set({ loraTask }),
    setFusedLoras: (fusedLoras) => set({ fusedLoras }),
  };
};

function checkWeight(adapterName: string, weight: number): void {
  if (!Number.isFinite(weight)) {
    throw new LorafuseError(
      'invalid-argument',
      `Weight of adapter "${adapterName}" must be a finite number.`,
      {
        adapterName,
        weight,
      },
    );
  }
}

function checkSchedule(adapterName: string, schedule: Schedule): void {
  try {
    validateSchedule(schedule);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    throw new LorafuseError('invalid-argument', `Schedule of "${adapterName}": ${message}`, { adapterName });
  }
}

function checkBlockWeights(adapterName: string, b: UNetBlockWeights): void {
  const entries = [...Object.entries(b.down), ['mid', b.mid] as const, ...Object.entries(b.up)];
  for (const [key, v] of entries) {
    if (!Number.isFinite(v)) {
      throw new LorafuseError(
        'invalid-argument',
        `Block weight ${key} of adapter "${adapterName}" must be a finite number, got ${v}.`,
        { adapterName, key },
      );
    }
  }
}

function sameLayout(a: UNetBlockLayout | null, b: UNetBlockLayout | null): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function unknownAdapter(adapterName: string, loras: LoraEntry[]): LorafuseError {
  const names = loras.map((l) => l.adapterName);
  return new LorafuseError(
    'invalid-argument',
    `No adapter named "${adapterName}". Loaded adapters: ${names.length ? names.join(', ') : 'none'}.`,
    { adapterName, adapters: names },
  );
}

/** `stem`, or `stem_2`, `stem_3`, ... : the first name no adapter uses. */
export function uniqueAdapterName(loras: readonly LoraEntry[], stem: string): string {
  const base = stem.trim() || 'lora';
  const taken = new Set(loras.map((l) => l.adapterName));
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) if (!taken.has(`${base}_${i}`)) return `${base}_${i}`;
}

/** Every block of the layout at `value` (the block-weights presets). */
export function uniformBlockWeights(
  layout: UNetBlockLayout,
  value: { down: number; mid: number; up: number },
): UNetBlockWeights {
  return {
    down: Object.fromEntries(layout.down.map((i) => [`block_${i}`, value.down])),
    mid: value.mid,
    up: Object.fromEntries(layout.up.map((i) => [`block_${i}`, value.up])),
  };
}

/** The global scale at every step: `loraScale` times its schedule. */
export function scaleValues(s: Pick<LorasSlice, 'loraScale' | 'loraScaleSchedule'>, steps: number): number[] {
  return Array.from(
    { length: steps },
    (_, i) => s.loraScale * evaluateSchedule(s.loraScaleSchedule, i, steps),
  );
}

/**
 * The weight an adapter runs with at every step: global scale x its schedule x the adapter
 * weight x its own schedule (DESIGN.md decision 7: schedules compose by multiplication); 0 while
 * it is switched off. Block multipliers apply on top, per block.
 */
export function effectiveAdapterValues(
  s: Pick<LorasSlice, 'loraScale' | 'loraScaleSchedule'>,
  entry: LoraEntry,
  steps: number,
): number[] {
  const scale = scaleValues(s, steps);
  return scale.map((c, i) =>
    entry.enabled ? c * entry.weight * evaluateSchedule(entry.schedule ?? 1, i, steps) : 0,
  );
}

/** One adapter's weights as Diffusers' `set_adapters` takes them: a number, or a dict with a UNet block dict. */
export type AdapterWeightsArg =
  | number
  | {
      unet: UNetBlockWeights;
      text_encoder: number;
      text_encoder_2: number;
    };

/**
 * What the engine's adapter manager will be given (`setAdapters(adapterNames, adapterWeights)`,
 * the call-time scale and the per-step schedules): enabled adapters only, block multipliers
 * folded into the weight.
 */
export interface AdapterSettings {
  adapterNames: string[];
  adapterWeights: AdapterWeightsArg[];
  /** Per-step multipliers of each adapter's weight, by name (absent: constant). */
  schedules: Record<string, Schedule>;
  scale: number;
  scaleSchedule: Schedule;
}

export function selectAdapterSettings(
  s: Pick<LorasSlice, 'loras' | 'loraScale' | 'loraScaleSchedule'>,
): AdapterSettings {
  const on = s.loras.filter((l) => l.enabled);
  const times = (r: Record<string, number>, w: number) =>
    Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v * w]));
  return {
    adapterNames: on.map((l) => l.adapterName),
    adapterWeights: on.map((l) =>
      l.blockWeights
        ? {
            unet: {
              down: times(l.blockWeights.down, l.weight),
              mid: l.blockWeights.mid * l.weight,
              up: times(l.blockWeights.up, l.weight),
            },
            text_encoder: l.weight,
            text_encoder_2: l.weight,
          }
        : l.weight,
    ),
    schedules: Object.fromEntries(
      on.flatMap((l) => (l.schedule !== undefined ? [[l.adapterName, l.schedule] as const] : [])),
    ),
    scale: s.loraScale,
    scaleSchedule: s.loraScaleSchedule,
  };
}

/**
 * The modules of `next` that `current` does not touch: a hotswap may touch the same modules or a
 * subset (DESIGN.md decision 6), so a non-empty answer refuses it.
 */
export function modulesOutside(current: LoraSummary, next: LoraSummary): string[] {
  const have = new Set(current.moduleIds);
  return next.moduleIds.filter((m) => !have.has(m));
}
