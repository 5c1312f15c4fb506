/**
 * What the adapter manager needs of a weight store (DESIGN.md decisions 1, 3, 4): the CPU store
 * (weight-store.ts: float32 arrays, the wasm path and the CLI) and the GPU store (gpu-weights.ts:
 * GPUBuffers bound into WebGPU sessions) both implement it, so one manager, with one set of state
 * rules, drives either. The manager records steps on a transaction and commits them only when
 * `compute` succeeded; the store decides how merges run and where their results go.
 */
import type { Component } from '../../lora/adapter.ts';
import type { BaseParams } from '../../lora/merge-cpu.ts';
import type { GpuBase } from './gpu-weights.ts';
import type { StoreTerm } from './weight-store.ts';

/** Where the CPU store reads the model's own weights of a module (float32). */
export interface BaseWeightSource {
  read(component: Component, module: string): BaseParams | Promise<BaseParams>;
}

/** A module's base as a store reads it: CPU arrays, or GPU buffers the GPU store binds directly. */
export type ModuleBase = BaseParams | GpuBase;

/** Counters tests and benches read (dirty tracking, allocation checks). */
export interface StoreCounters {
  /** Effective weights computed (modules whose terms changed). */
  recomputes: number;
  /** Fused bases computed. */
  fuses: number;
  /** Factor arrays allocated through `allocFactor` (hotswap buffers). */
  factorAllocations: number;
  /** Calls to sinks (CPU: weights written; GPU: buffers bound). */
  writes: number;
}

/** CPU copies of a touched module's weights (float32, the model's shapes). */
export interface ModuleWeights {
  readonly component: Component;
  readonly module: string;
  /** Base plus what is fused. */
  readonly base: BaseParams;
  /** What the networks run. */
  readonly effective: BaseParams;
  /** Whether something is fused into `base` that unfuse can remove. */
  readonly fused: boolean;
}

export interface AdapterStoreTransaction {
  has(id: string): boolean;
  /** A module an adapter now touches, with its base as `AdapterStore.readBase` gave it. */
  addModule(component: Component, module: string, base: ModuleBase): void;
  fuse(id: string, terms: readonly StoreTerm[]): void;
  unfuse(id: string): void;
  bake(id: string): void;
  setTerms(id: string, terms: readonly StoreTerm[]): void;
  dropIfUnchanged(id: string): void;
  /** Runs the recorded merges; throws (changing nothing the networks see) when one fails. */
  compute(): Promise<void>;
  /** Publishes the change to the sinks (after `compute`). */
  commit(): void;
}

export interface AdapterStore {
  readonly kind: 'cpu' | 'gpu';
  readonly stats: Readonly<StoreCounters>;
  has(id: string): boolean;
  ids(): string[];
  /** Component, module and fused flag of a held module. */
  info(id: string): { component: Component; module: string; fused: boolean } | undefined;
  /** The model's own weights of a module no adapter has touched yet. */
  readBase(component: Component, module: string): Promise<ModuleBase>;
  /** CPU copies of a held module's weights (the GPU store reads its buffers back). */
  read(id: string): Promise<ModuleWeights | undefined>;
  /** A module's base without live adapters (what is fused included), held or not, as float32. */
  readFused(component: Component, module: string): Promise<BaseParams>;
  begin(): AdapterStoreTransaction;
  /** A zeroed factor array owned by the store (hotswap buffers; counted). */
  allocFactor(length: number): Float32Array;
  /** Frees what only removed adapters used (GPU factor buffers); call after a commit removed some. */
  prune(): void;
}
