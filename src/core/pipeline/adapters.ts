/**
 * The adapter manager: Diffusers' LoRA API in camelCase (`loadLoraWeights`, `setAdapters`,
 * `fuseLora`, `unfuseLora`, `unloadLoraWeights`, `disableLora`, `enableLora`, `deleteAdapters`,
 * `getActiveAdapters`, `getListAdapters`, `enableLoraHotswap`, hotswap through
 * `loadLoraWeights(..., {adapterName, hotswap: true})`, `addWeightedAdapter` (PEFT's
 * `add_weighted_adapter`), `saveLoraAdapter`) plus the call-time `scale`
 * (`cross_attention_kwargs={"scale": s}`) as `setScale`, and `exportFusedWeights` (the base with
 * what is fused, as safetensors per component: Diffusers' save of a fused pipeline).
 *
 * What the networks run (DESIGN.md decision 3): per module `W = W0 + sum_i c_i dW_i` over the live
 * adapters, `c_i = weight_i * blockMultiplier * scale`, alpha/rank inside dW (per module, as kohya
 * and A1111 apply it). `W0` is the base plus whatever is fused. The weights live in an
 * `AdapterStore` (adapters/adapter-store.ts): the CPU store (weight-store.ts: float32 arrays written
 * to `WeightSink`s, the wasm path and the CLI) by default, or the GPU store (gpu-weights.ts:
 * GPUBuffers merged by the WGSL kernels and bound into WebGPU sessions). Only modules whose terms
 * changed are recomputed.
 *
 * Where lorafuse deliberately differs from Diffusers (fixtures README):
 * 1. `fuseLora({loraScale})` folds the chosen adapters' contribution at `weight * loraScale` into
 *    the base and takes them out of the live mix; `unfuseLora` restores the stored pre-fuse base
 *    (bit-exact, no subtraction) and they are live again at their `setAdapters` weight.
 * 2. A fused adapter and a live one both apply (Diffusers skips live adapters on merged layers).
 * 3. `scale` 0 gives exactly the base and leaves the `setAdapters` weights as they were; a weight
 *    of 0 puts an adapter out of the mix for every format, DoRA included.
 * 4. alpha/rank is per module.
 * 5. `addWeightedAdapter` refuses a name in use (PEFT returns silently) and combines the files'
 *    factors, not the `setAdapters`-scaled ones (adapters/weighted-adapter.ts).
 * Freshly loaded adapters join the active set at weight 1.0 (the others stay active). An adapter
 * made by `addWeightedAdapter` is not active until `setAdapters` names it (as in PEFT).
 *
 * Every call is atomic: it is computed on a draft (state and weights) and committed only when all
 * of it succeeded; on error the adapters, weights and what the sinks hold are exactly as before.
 * `loadLoraWeights` reads and converts first (async), then commits synchronously.
 */
import { LorafuseError } from '../../errors.ts';
import {
  type AdapterModule,
  type CanonicalAdapter,
  COMPONENTS,
  type Component,
  moduleId,
} from '../lora/adapter.ts';
import type { BaseParams } from '../lora/merge-cpu.ts';
import type { MergeBackend } from '../lora/merge-fast/merge-backend.ts';
import type { LoraTarget } from '../lora/target.ts';
import type { AdapterStore, ModuleBase, ModuleWeights, StoreCounters } from './adapters/adapter-store.ts';
import { type AdapterWeightInput, parseAdapterWeights, UNIT_WEIGHTS } from './adapters/adapter-weights.ts';
import { exportFused, type StateDictReader } from './adapters/export-fused.ts';
import { padModule, refuseOverTargetRank, swapInto } from './adapters/hotswap.ts';
import { convertForLoad, loadName } from './adapters/load-lora.ts';
import { type LoraSource, type OpenRepo, readLoraSource } from './adapters/lora-source.ts';
import { type SaveLoraOptions, writeAdapterFile } from './adapters/save-adapter.ts';
import {
  cloneState,
  emptyState,
  fuseTerms,
  type LoadedAdapter,
  liveTerms,
  referencedModules,
  refuseUnsupportedBlocks,
  type Slot,
  type State,
} from './adapters/state.ts';
import { storeId, type WeightSink, WeightStore } from './adapters/weight-store.ts';
import { type AddWeightedAdapterOptions, canonicalOf, combineLoaded } from './adapters/weighted-adapter.ts';

export type { AdapterStore, ModuleWeights, StoreCounters } from './adapters/adapter-store.ts';
export type { AdapterWeightInput } from './adapters/adapter-weights.ts';
export type { UNetBlockWeightsInput } from './adapters/block-weights.ts';
export type { StateDictReader } from './adapters/export-fused.ts';
export type { LoraSource, OpenRepo, RepoReader } from './adapters/lora-source.ts';
export type { SaveFormat, SaveLoraOptions } from './adapters/save-adapter.ts';
export type { WeightSink } from './adapters/weight-store.ts';
export type { AddWeightedAdapterOptions } from './adapters/weighted-adapter.ts';

/** The base model's parameters of one module (weight, and bias when it has one), float32. */
export interface BaseWeightSource {
  read(component: Component, module: string): BaseParams | Promise<BaseParams>;
  /**
   * Every parameter of a component, by state-dict key (`exportFusedWeights` needs it). Values of
   * modules an adapter touches are not read (the manager's own base replaces them).
   */
  stateDict?: StateDictReader;
}

export interface AdapterManagerOptions {
  /** Module names and shapes LoRA files are converted and validated against. */
  target: LoraTarget;
  /**
   * Base weights of the modules adapters touch (read once per module, when first touched), for
   * the CPU store; its `stateDict` also serves `exportFusedWeights`. Not needed with `store`.
   */
  base?: BaseWeightSource;
  /**
   * Where the weights live and merges run (e.g. the GPU store, which reads its own bases). Default:
   * a CPU store on `base`, `merge` and `sinks`.
   */
  store?: AdapterStore;
  /** Every parameter by state-dict key, for `exportFusedWeights` (default: `base.stateDict`). */
  stateDict?: StateDictReader;
  /** Opens a Hub-shaped repo for `loadLoraWeights({repo})`. */
  openRepo?: OpenRepo;
  /** CPU store only: where effective weights go. */
  sinks?: WeightSink[];
  /**
   * CPU store only: the merge backend (lora/merge-fast, `createMergeBackend()`); default none:
   * merge-cpu's scalar oracle. The manager does not dispose it.
   */
  merge?: MergeBackend;
}

export interface LoadLoraOptions {
  /** Default: `default_<n>`, n = number of loaded adapters (Diffusers' rule). */
  adapterName?: string;
  /** Load only this component's modules (Diffusers' `load_lora_adapter(prefix=...)`). */
  prefix?: Component;
  /** Replace the factors of the already loaded `adapterName` in place. */
  hotswap?: boolean;
  /** Refuse keys that map to no module (default true); false loads the rest and ignores them. */
  strict?: boolean;
}

export interface FuseOptions {
  /** Default: the active adapters. */
  adapterNames?: readonly string[];
  loraScale?: number;
  /** Default: every component. */
  components?: readonly Component[];
  /** Kept for Diffusers compatibility: the NaN/Inf check always runs (DESIGN.md decision 4). */
  safeFusing?: boolean;
}

export interface UnfuseOptions {
  components?: readonly Component[];
}

export interface ExportFusedOptions {
  /** Default: every component of the model. */
  components?: readonly Component[];
}

/** A state change: edits the draft, records store steps, may queue work for after the commit. */
type Mutation = (
  draft: State,
  tx: ReturnType<AdapterStore['begin']>,
  afterCommit: (f: () => void) => void,
) => void;

function invalid(message: string, details: Record<string, unknown> = {}): LorafuseError {
  return new LorafuseError('invalid-argument', message, details);
}

function finiteNumber(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw invalid(`${what} must be a finite number, got ${String(v)}.`);
  return v;
}

export class AdapterManager {
  private state: State = emptyState();
  private readonly store: AdapterStore;
  private readonly stateDict: StateDictReader | undefined;
  /** Serialises state changes: each runs alone, on the state the previous one committed. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly target: LoraTarget;
  private readonly openRepo: OpenRepo | undefined;
  private nextUid = 1;

  constructor(options: AdapterManagerOptions) {
    this.target = options.target;
    this.openRepo = options.openRepo;
    this.stateDict = options.stateDict ?? options.base?.stateDict?.bind(options.base);
    if (options.store) {
      if (options.sinks?.length || options.merge) {
        throw invalid(
          'AdapterManager: sinks and merge configure the default CPU store; give them to your store instead.',
        );
      }
      this.store = options.store;
    } else {
      if (!options.base) throw invalid('AdapterManager: give a base weight source (base) or a store.');
      const cpu = new WeightStore(options.merge ?? null, options.base);
      for (const s of options.sinks ?? []) cpu.addSink(s);
      this.store = cpu;
    }
  }

  /** Where the weights live: 'cpu' (float32 arrays) or 'gpu' (GPUBuffers). */
  get storeKind(): 'cpu' | 'gpu' {
    return this.store.kind;
  }

  /** CPU store only: where effective weights go from now on (existing ones are not replayed). */
  addSink(sink: WeightSink): void {
    this.cpuStore('addSink').addSink(sink);
  }

  get stats(): Readonly<StoreCounters> {
    return this.store.stats;
  }

  private cpuStore(op: string): WeightStore {
    if (this.store instanceof WeightStore) return this.store;
    throw new LorafuseError(
      'not-implemented',
      `AdapterManager.${op} reads CPU weights synchronously; this manager keeps them on the GPU. Use readModuleWeights.`,
      { op },
    );
  }

  // ---- queries -------------------------------------------------------------------------------

  getActiveAdapters(): string[] {
    return [...this.state.active];
  }

  /** Per component, the adapters that have modules there (load order); components without any are absent. */
  getListAdapters(): Partial<Record<Component, string[]>> {
    const out: Partial<Record<Component, string[]>> = {};
    for (const ad of this.state.adapters.values()) {
      for (const c of COMPONENTS) {
        if (!ad.components.has(c)) continue;
        const names = out[c] ?? [];
        names.push(ad.name);
        out[c] = names;
      }
    }
    return out;
  }

  getScale(): number {
    return this.state.scale;
  }

  isEnabled(): boolean {
    return this.state.enabled;
  }

  /** Per component, the adapters fused into it now. */
  getFusedAdapters(): Partial<Record<Component, string[]>> {
    const out: Partial<Record<Component, string[]>> = {};
    for (const [c, set] of this.state.fused) if (set.size > 0) out[c] = [...set];
    return out;
  }

  /**
   * CPU store only: what the network runs for a module an adapter touches (undefined: the model's
   * own weights). The store's own array: read it, do not write.
   */
  effectiveWeight(component: Component, module: string): BaseParams | undefined {
    return this.cpuStore('effectiveWeight').get(storeId(component, module))?.effective;
  }

  /** CPU store only: base, fused and effective weights of a touched module (undefined when untouched). */
  moduleWeights(component: Component, module: string): ModuleWeights | undefined {
    return this.cpuStore('moduleWeights').get(storeId(component, module));
  }

  /**
   * Base, fused and effective weights of a touched module as float32 CPU arrays, on either store
   * (the GPU store reads its buffers back); undefined when no adapter touches the module.
   */
  async readModuleWeights(component: Component, module: string): Promise<ModuleWeights | undefined> {
    return this.exclusive(() => this.store.read(storeId(component, module)));
  }

  /**
   * An adapter's modules as its file holds them (per-module alpha/rank, no `setAdapters` weight,
   * no hotswap padding); for a combined adapter, what `addWeightedAdapter` made. The arrays are
   * the manager's own (hotswap buffers excepted, which are copied): read them, do not write.
   */
  getAdapter(name: string): CanonicalAdapter {
    this.requireLoaded([name], 'getAdapter');
    const ad = this.state.adapters.get(name)!;
    return { ...canonicalOf(ad), source: ad.source };
  }

  /**
   * Diffusers' `save_lora_adapter`: the adapter as safetensors bytes, PEFT keys (default) or kohya
   * keys, shaped for this manager's base (adapters/save-adapter.ts).
   */
  saveLoraAdapter(name: string, options: SaveLoraOptions = {}): Uint8Array {
    this.requireLoaded([name], 'saveLoraAdapter');
    return writeAdapterFile(canonicalOf(this.state.adapters.get(name)!), name, this.target, options);
  }

  /** The base plus what is fused into it (live adapters not included): Diffusers' `module.weight` after fuse. */
  async fusedWeight(component: Component, module: string): Promise<BaseParams> {
    return this.exclusive(() => this.store.readFused(component, module));
  }

  // ---- state changes ---------------------------------------------------------------------------

  /** The call-time scale (`cross_attention_kwargs={"scale": s}`) applied to every live adapter. */
  async setScale(scale: number): Promise<void> {
    const s = finiteNumber(scale, 'setScale: scale');
    return this.transact((d) => {
      d.scale = s;
    });
  }

  async enableLoraHotswap(options: { targetRank: number }): Promise<void> {
    const t = options.targetRank;
    return this.exclusive(async () => this.setHotswapRank(t));
  }

  private setHotswapRank(t: number): void {
    if (!Number.isInteger(t) || t < 1) {
      throw invalid(`enableLoraHotswap: targetRank must be a positive integer, got ${String(t)}.`, {
        targetRank: t,
      });
    }
    if (this.state.adapters.size > 0) {
      throw invalid(
        `enableLoraHotswap must be called before the first adapter is loaded (loaded: ${[...this.state.adapters.keys()].join(', ')}). Unload them first.`,
        { loaded: [...this.state.adapters.keys()] },
      );
    }
    this.state = { ...cloneState(this.state), hotswapRank: t };
  }

  async setAdapters(
    names: string | readonly string[],
    weights?: AdapterWeightInput | readonly AdapterWeightInput[],
  ): Promise<void> {
    const list = typeof names === 'string' ? [names] : [...names];
    await this.transact((d) => {
      this.requireLoaded(list, 'setAdapters');
      const dup = list.find((n, i) => list.indexOf(n) !== i);
      if (dup !== undefined) throw invalid(`setAdapters: '${dup}' is listed twice.`, { adapter: dup });
      const parsed = parseAdapterWeights(list, weights, this.target.unet);
      list.forEach((name, i) => {
        refuseUnsupportedBlocks(d.adapters.get(name)!, parsed[i]!);
      });
      d.active = list;
      list.forEach((name, i) => {
        d.weights.set(name, parsed[i]!);
      });
    });
  }

  async disableLora(): Promise<void> {
    return this.transact((d) => {
      d.enabled = false;
    });
  }

  async enableLora(): Promise<void> {
    return this.transact((d) => {
      d.enabled = true;
    });
  }

  async deleteAdapters(names: string | readonly string[]): Promise<void> {
    const list = typeof names === 'string' ? [names] : [...names];
    return this.transact((d, _tx, afterCommit) => {
      afterCommit(() => this.store.prune());
      this.requireLoaded(list, 'deleteAdapters');
      for (const n of list) {
        d.adapters.delete(n);
        d.weights.delete(n);
        for (const set of d.fused.values()) set.delete(n);
      }
      d.active = d.active.filter((n) => !list.includes(n));
    });
  }

  /** Removes every adapter; what is fused stays in the base (Diffusers' fuse-then-unload recipe). */
  async unloadLoraWeights(): Promise<void> {
    return this.transact((d, tx, afterCommit) => {
      afterCommit(() => this.store.prune());
      d.adapters.clear();
      d.weights.clear();
      d.active = [];
      d.fused.clear();
      d.enabled = true;
      for (const id of this.store.ids()) tx.bake(id);
    });
  }

  async fuseLora(options: FuseOptions = {}): Promise<void> {
    const loraScale = finiteNumber(options.loraScale ?? 1, 'fuseLora: loraScale');
    const components = this.checkComponents(options.components, 'fuseLora');
    return this.transact((d, tx) => {
      if (options.adapterNames) this.requireLoaded(options.adapterNames, 'fuseLora');
      for (const c of components) {
        const fused = d.fused.get(c) ?? new Set<string>();
        const chosen = (options.adapterNames ?? d.active).filter(
          (n) => !fused.has(n) && d.adapters.get(n)?.components.has(c),
        );
        if (chosen.length === 0) continue;
        for (const [id, terms] of fuseTerms(d, chosen, c, loraScale)) tx.fuse(id, terms);
        for (const name of chosen) fused.add(name);
        d.fused.set(c, fused);
      }
    });
  }

  /**
   * PEFT's `add_weighted_adapter`: combines loaded adapters (lora/combine) into a new adapter,
   * registered but not active (`setAdapters` turns it on). Returns its name. Atomic: a refused
   * call (name in use, unknown adapter, unequal ranks for `linear`/`ties`, DoRA, LyCORIS kinds)
   * changes nothing.
   */
  async addWeightedAdapter(options: AddWeightedAdapterOptions): Promise<string> {
    return this.exclusive(async () => {
      const combined = combineLoaded(options, this.state.adapters);
      const name = options.adapterName;
      const ad = this.newAdapter(name, combined.source, combined.modules);
      await this.transactNow((d) => {
        d.adapters.set(name, ad);
        d.weights.set(name, UNIT_WEIGHTS);
      });
      return name;
    });
  }

  /**
   * Per component, its state dict as safetensors bytes: the base with what is fused now, live
   * adapters not included (after `unfuseLora`: the pristine base, bit-exactly). Needs a base
   * source with `stateDict`.
   */
  async exportFusedWeights(
    options: ExportFusedOptions = {},
  ): Promise<Partial<Record<Component, Uint8Array>>> {
    const components = options.components && this.checkComponents(options.components, 'exportFusedWeights');
    return this.exclusive(() =>
      exportFused(this.target, this.stateDict, components, async (c) => {
        const held = new Map<string, BaseParams>();
        for (const id of this.store.ids()) {
          const info = this.store.info(id);
          if (info?.component === c) held.set(info.module, await this.store.readFused(c, info.module));
        }
        return held;
      }),
    );
  }

  async unfuseLora(options: UnfuseOptions = {}): Promise<void> {
    const components = this.checkComponents(options.components, 'unfuseLora');
    return this.transact((d, tx) => {
      for (const c of components) {
        d.fused.delete(c);
        for (const id of this.store.ids()) {
          if (this.store.info(id)?.component === c) tx.unfuse(id);
        }
      }
    });
  }

  /** Loads a LoRA (or hotswaps one in); returns the adapter's name. */
  async loadLoraWeights(source: LoraSource, options: LoadLoraOptions = {}): Promise<string> {
    const hotswap = options.hotswap ?? false;
    loadName(this.state.adapters, options, hotswap);
    if (options.prefix !== undefined) this.checkComponents([options.prefix], 'loadLoraWeights prefix');
    const { name: file, bytes } = await readLoraSource(source, this.openRepo);
    const modules = convertForLoad(file, bytes, this.target, {
      ...options,
      hotswapRank: this.state.hotswapRank,
    });
    return this.exclusive(async () => {
      // Base weights are read inside the queue: a sink may rewrite a session's weights only
      // while a change commits, and a module is read only while no adapter has written it.
      const rank = this.state.hotswapRank;
      if (rank !== null) refuseOverTargetRank(modules, rank, file);
      const bases = new Map<string, ModuleBase>();
      for (const m of modules) {
        const id = moduleId(m);
        if (!this.store.has(id) && !bases.has(id))
          bases.set(id, await this.store.readBase(m.component, m.module));
      }
      const name = loadName(this.state.adapters, options, hotswap);
      if (hotswap) await this.commitHotswap(name, file, modules);
      else await this.commitLoad(name, file, modules, bases);
      return name;
    });
  }

  // ---- internals -------------------------------------------------------------------------------

  /** Runs `body` after every state change queued before it (a failed one does not stop the queue). */
  private exclusive<T>(body: () => Promise<T>): Promise<T> {
    const run = this.queue.then(body, body);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private transact(mutate: Mutation): Promise<void> {
    return this.exclusive(() => this.transactNow(mutate));
  }

  /** Runs `mutate` on a draft, merges every module whose terms changed, commits if all succeeded. */
  private async transactNow(mutate: Mutation): Promise<void> {
    const draft = cloneState(this.state);
    const tx = this.store.begin();
    const after: (() => void)[] = [];
    mutate(draft, tx, (f) => after.push(f));
    this.refreshTerms(draft, tx);
    await tx.compute();
    tx.commit();
    this.state = draft;
    for (const f of after) f();
  }

  private refreshTerms(d: State, tx: ReturnType<AdapterStore['begin']>): void {
    const live = liveTerms(d);
    const referenced = referencedModules(d);
    for (const id of new Set([...this.store.ids(), ...referenced])) {
      if (!tx.has(id)) {
        throw new LorafuseError(
          'internal',
          `adapter manager: module ${id} has no base weights in the store`,
          {
            module: id,
          },
        );
      }
      tx.setTerms(id, live.get(id) ?? []);
      if (!referenced.has(id)) tx.dropIfUnchanged(id);
    }
  }

  private requireLoaded(names: readonly string[], op: string): void {
    const missing = names.filter((n) => !this.state.adapters.has(n));
    if (missing.length > 0) {
      const loaded = [...this.state.adapters.keys()];
      throw invalid(
        `${op}: no adapter named ${missing.map((n) => `'${n}'`).join(', ')}; loaded: ${loaded.length > 0 ? loaded.join(', ') : 'none'}.`,
        { missing, loaded },
      );
    }
  }

  private checkComponents(list: readonly Component[] | undefined, op: string): Component[] {
    if (!list) return [...COMPONENTS];
    const unknown = list.filter((c) => !(COMPONENTS as readonly string[]).includes(c));
    if (unknown.length > 0) {
      throw invalid(`${op}: unknown component(s) ${unknown.join(', ')}; use ${COMPONENTS.join(', ')}.`, {
        unknown,
      });
    }
    return [...list];
  }

  /** A loaded adapter over `modules`, each slot with a fresh uid and no hotswap buffers yet. */
  private newAdapter(name: string, source: string, modules: readonly AdapterModule[]): LoadedAdapter {
    const slots = new Map<string, Slot>();
    for (const m of modules) {
      slots.set(moduleId(m), {
        component: m.component,
        module: m.module,
        current: m,
        uid: this.nextUid++,
        buffers: null,
      });
    }
    return { name, source, slots, components: new Set(modules.map((m) => m.component)) };
  }

  private commitLoad(
    name: string,
    file: string,
    modules: AdapterModule[],
    bases: Map<string, ModuleBase>,
  ): Promise<void> {
    const ad = this.newAdapter(name, file, modules);
    const { slots } = ad;
    return this.transactNow((d, tx, afterCommit) => {
      d.adapters.set(name, ad);
      d.weights.set(name, UNIT_WEIGHTS);
      if (!d.active.includes(name)) d.active.push(name);
      for (const m of modules) {
        const base = bases.get(moduleId(m));
        if (base) tx.addModule(m.component, m.module, base);
      }
      const t = d.hotswapRank;
      if (t === null) return;
      // Same values as the converted factors (zero padding), so the committed weights stay valid.
      afterCommit(() => {
        for (const slot of slots.values()) {
          if (!slot.current) continue;
          const padded = padModule(slot.current, t, (n) => this.store.allocFactor(n));
          if (padded) {
            slot.buffers = padded;
            slot.current = padded;
          }
        }
      });
    });
  }

  private commitHotswap(name: string, file: string, modules: AdapterModule[]): Promise<void> {
    const old = this.state.adapters.get(name)!;
    const fusedIn = [...this.state.fused].filter(([, set]) => set.has(name)).map(([c]) => c);
    if (fusedIn.length > 0) {
      throw invalid(
        `loadLoraWeights: '${name}' is fused into ${fusedIn.join(', ')}; unfuseLora before hotswapping it.`,
        { adapter: name, components: fusedIn },
      );
    }
    const outside = modules.map(moduleId).filter((id) => !old.slots.has(id));
    if (outside.length > 0) {
      throw invalid(
        `loadLoraWeights: ${file} cannot be hotswapped into '${name}': it touches ${outside.length} module(s) the first adapter does not: ${outside.slice(0, 8).join(', ')}${outside.length > 8 ? ', ...' : ''}. A hotswapped LoRA may target the same modules or a subset; load it as a new adapter instead.`,
        { adapter: name, file, modules: outside },
      );
    }
    const incoming = new Map(modules.map((m) => [moduleId(m), m]));
    const slots = new Map<string, Slot>();
    for (const [id, s] of old.slots) {
      slots.set(id, {
        component: s.component,
        module: s.module,
        current: incoming.get(id) ?? null,
        uid: this.nextUid++,
        buffers: s.buffers,
      });
    }
    const ad: LoadedAdapter = { name, source: file, slots, components: old.components };
    const t = this.state.hotswapRank;
    return this.transactNow((d, _tx, afterCommit) => {
      d.adapters.set(name, ad);
      afterCommit(() => this.store.prune());
      if (t === null) return;
      // Writes into the store-owned buffers only after the commit (the old values were live until then).
      afterCommit(() => {
        for (const slot of slots.values()) {
          if (!slot.current || !slot.buffers) continue;
          const swapped = swapInto(slot.buffers, slot.current, t);
          if (swapped) slot.current = swapped;
        }
      });
    });
  }
}
