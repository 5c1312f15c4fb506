import type { StateCreator } from 'zustand';
import { LorafuseError } from '../../errors.ts';
import type { AppState, Middlewares } from '../store.ts';

/** Where a LoRA file comes from: a Hub repo and the file in it (Diffusers' `weight_name`). */
export interface LoraSource {
  repo: string;
  weightName: string;
  revision?: string;
}

export interface LoraEntry {
  /** Unique, like Diffusers' `adapter_name`. */
  adapterName: string;
  source: LoraSource;
  /** The adapter weight of `set_adapters`. */
  weight: number;
  enabled: boolean;
}

export interface LorasSlice {
  loras: LoraEntry[];
  /** Throws `invalid-argument` when the adapter name is taken. */
  addLora(entry: LoraEntry): void;
  removeLora(adapterName: string): void;
  setLoraWeight(adapterName: string, weight: number): void;
  setLoraEnabled(adapterName: string, enabled: boolean): void;
}

export const createLorasSlice: StateCreator<AppState, Middlewares, [], LorasSlice> = (set, get) => {
  /** Replaces one entry by name; an unknown name is an error naming the adapters there are. */
  const update = (adapterName: string, patch: Partial<Omit<LoraEntry, 'adapterName'>>): void => {
    const { loras } = get();
    if (!loras.some((l) => l.adapterName === adapterName)) throw unknownAdapter(adapterName, loras);
    set({ loras: loras.map((l) => (l.adapterName === adapterName ? { ...l, ...patch } : l)) });
  };
  return {
    loras: [],
    addLora: (entry) => {
      const { loras } = get();
      if (loras.some((l) => l.adapterName === entry.adapterName)) {
        throw new LorafuseError(
          'invalid-argument',
          `Adapter name "${entry.adapterName}" is already in use. Pick another name or remove the existing adapter first.`,
          { adapterName: entry.adapterName },
        );
      }
      checkWeight(entry.adapterName, entry.weight);
      set({ loras: [...loras, entry] });
    },
    removeLora: (adapterName) => {
      const { loras } = get();
      if (!loras.some((l) => l.adapterName === adapterName)) throw unknownAdapter(adapterName, loras);
      set({ loras: loras.filter((l) => l.adapterName !== adapterName) });
    },
    setLoraWeight: (adapterName, weight) => {
      checkWeight(adapterName, weight);
      update(adapterName, { weight });
    },
    setLoraEnabled: (adapterName, enabled) => update(adapterName, { enabled }),
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

function unknownAdapter(adapterName: string, loras: LoraEntry[]): LorafuseError {
  const names = loras.map((l) => l.adapterName);
  return new LorafuseError(
    'invalid-argument',
    `No adapter named "${adapterName}". Loaded adapters: ${names.length ? names.join(', ') : 'none'}.`,
    { adapterName, adapters: names },
  );
}
