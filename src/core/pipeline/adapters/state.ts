/**
 * The adapter manager's state (what Diffusers keeps in its PEFT layers and pipeline): loaded
 * adapters with their modules ("slots"), the active list, weights per adapter, the call-time
 * scale, the enable flag and what is fused where. A change works on a clone (`cloneState`) and
 * replaces the state only when it committed. From a state, `liveTerms` gives every module's
 * `c_i = weight_i * blockMultiplier * scale` terms and `fuseTerms` what a fuse folds in.
 */
import { LorafuseError } from '../../../errors.ts';
import type { AdapterModule, Component } from '../../lora/adapter.ts';
import { type AdapterWeights, moduleWeight, UNIT_WEIGHTS } from './adapter-weights.ts';
import type { StoreTerm } from './weight-store.ts';

export interface Slot {
  readonly component: Component;
  readonly module: string;
  /** What the module computes with; null after a hotswap whose file does not touch it. */
  current: AdapterModule | null;
  /** Identifies `current`'s factor values (dirty tracking). */
  readonly uid: number;
  /** Target-rank buffers owned by the store (hotswap), or null. */
  buffers: AdapterModule | null;
}

export interface LoadedAdapter {
  readonly name: string;
  readonly source: string;
  /** By module id (`unet.down_blocks.0...`). */
  readonly slots: ReadonlyMap<string, Slot>;
  readonly components: ReadonlySet<Component>;
}

export interface State {
  adapters: Map<string, LoadedAdapter>;
  /** `setAdapters` order. */
  active: string[];
  weights: Map<string, AdapterWeights>;
  enabled: boolean;
  scale: number;
  /** Per component, the adapters fused into it now. */
  fused: Map<Component, Set<string>>;
  hotswapRank: number | null;
}

export function emptyState(): State {
  return {
    adapters: new Map(),
    active: [],
    weights: new Map(),
    enabled: true,
    scale: 1,
    fused: new Map(),
    hotswapRank: null,
  };
}

export function cloneState(s: State): State {
  return {
    adapters: new Map(s.adapters),
    active: [...s.active],
    weights: new Map(s.weights),
    enabled: s.enabled,
    scale: s.scale,
    fused: new Map([...s.fused].map(([c, set]) => [c, new Set(set)])),
    hotswapRank: s.hotswapRank,
  };
}

function invalid(message: string, details: Record<string, unknown> = {}): LorafuseError {
  return new LorafuseError('invalid-argument', message, details);
}

/** The adapter weight of one slot (component weight or block multiplier). */
export function slotWeight(w: AdapterWeights, slot: Slot, adapter: string): number {
  const v = moduleWeight(w, slot.component, slot.module);
  if (v === null) {
    throw invalid(
      `adapter '${adapter}' touches ${slot.component}.${slot.module}, which a UNet block dict cannot weight (no block/attention index; Diffusers crashes here). Give the unet a number instead.`,
      { adapter, module: `${slot.component}.${slot.module}` },
    );
  }
  return v;
}

/** Refuses a block dict for an adapter that touches UNet modules outside the blocks (conv_in, ...). */
export function refuseUnsupportedBlocks(ad: LoadedAdapter, w: AdapterWeights): void {
  if (typeof w.unet === 'number') return;
  const bad = [...ad.slots.values()]
    .filter((s) => s.component === 'unet' && moduleWeight(w, 'unet', s.module) === null)
    .map((s) => s.module);
  if (bad.length > 0) {
    throw invalid(
      `setAdapters: adapter '${ad.name}' touches UNet modules outside the down/mid/up blocks (${bad.join(', ')}); a block dict cannot weight them (Diffusers crashes with IndexError). Give the unet a number, or load the LoRA without those modules.`,
      { adapter: ad.name, modules: bad },
    );
  }
}

function push(map: Map<string, StoreTerm[]>, id: string, term: StoreTerm): void {
  const terms = map.get(id) ?? [];
  terms.push(term);
  map.set(id, terms);
}

/** With hotswap enabled, the term's factor slot (what the GPU store keeps buffers for across swaps). */
function slotOf(d: State, adapter: string, id: string): Pick<StoreTerm, 'slot'> {
  return d.hotswapRank === null ? {} : { slot: { key: `${adapter}/${id}`, rank: d.hotswapRank } };
}

/** Every module's live terms: active, enabled, not fused in its component, coefficient not 0. */
export function liveTerms(d: State): Map<string, StoreTerm[]> {
  const live = new Map<string, StoreTerm[]>();
  if (!d.enabled) return live;
  for (const name of d.active) {
    const ad = d.adapters.get(name);
    if (!ad) continue;
    const w = d.weights.get(name) ?? UNIT_WEIGHTS;
    for (const [id, slot] of ad.slots) {
      if (!slot.current || d.fused.get(slot.component)?.has(name)) continue;
      const coefficient = slotWeight(w, slot, name) * d.scale;
      if (coefficient === 0) continue;
      push(live, id, {
        module: slot.current,
        coefficient,
        source: ad.source,
        uid: slot.uid,
        ...slotOf(d, name, id),
      });
    }
  }
  return live;
}

/** What fusing `names` into `component` folds in, per module: `weight * blockMultiplier * loraScale`. */
export function fuseTerms(
  d: State,
  names: readonly string[],
  component: Component,
  loraScale: number,
): Map<string, StoreTerm[]> {
  const byModule = new Map<string, StoreTerm[]>();
  for (const name of names) {
    const ad = d.adapters.get(name);
    if (!ad) continue;
    const w = d.weights.get(name) ?? UNIT_WEIGHTS;
    for (const [id, slot] of ad.slots) {
      if (slot.component !== component || !slot.current) continue;
      const coefficient = slotWeight(w, slot, name) * loraScale;
      if (coefficient === 0) continue;
      push(byModule, id, {
        module: slot.current,
        coefficient,
        source: ad.source,
        uid: slot.uid,
        ...slotOf(d, name, id),
      });
    }
  }
  return byModule;
}

/** Module ids some adapter touches. */
export function referencedModules(d: State): Set<string> {
  const out = new Set<string>();
  for (const ad of d.adapters.values()) for (const id of ad.slots.keys()) out.add(id);
  return out;
}
