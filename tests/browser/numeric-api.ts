/**
 * What the numeric test page (numeric-page.ts) exposes on `window.numeric`, shared with the Node
 * side (tests/e2e/numeric-webgpu.test.ts), which drives it with playwright's `page.evaluate`.
 * Tensors cross as plain arrays; the oracle (fixture outputs) stays on the Node side.
 */
import type { Backend, OptimizationLevel } from '../../src/core/graph/runner/session.ts';
import type { WeightDType } from '../../src/core/graph/runner/weight-dtype.ts';

export type Component = 'unet' | 'text_encoder' | 'text_encoder_2' | 'vae';

export interface WireTensor {
  type: 'float32' | 'int32';
  dims: number[];
  data: number[];
}

export interface InitResult {
  backend: Backend;
  /** The WebGPU adapter (vendor, architecture, description), empty on 'wasm'. */
  adapter: string;
  /** 'webgpu': whether our device has shader-f16, and what `chooseWeightDtype(device)` picks. */
  shaderF16?: boolean;
  weightDtype?: WeightDType;
}

export interface OpenResult {
  id: number;
  nodes: number;
  weights: number;
  /** ORT session creation (graph optimisation, kernel setup), ms. */
  createMs: number;
  /** Weight loading (fetch, parse, upload to GPU buffers or CPU tensors), ms. */
  loadMs: number;
  /** ORT's log lines printed while the session was created (node placements at log level 0). */
  log: string[];
}

export interface RunResult {
  outputs: Record<string, WireTensor>;
  /** Where ORT put each output before we read it ('gpu-buffer' or 'cpu'). */
  locations: Record<string, string>;
  runMs: number;
  downloadMs: number;
}

export interface IdentityResult {
  /** `ort.InferenceSession.create` calls since the page loaded. */
  sessionCreates: number;
  /** ORT's internal session id (its wasm handle) of this network's session. */
  ortSessionId: number | null;
  /** Every weight's tensor object and GPU buffer are the ones set when the network was opened. */
  weightsUnchanged: boolean;
}

export interface NumericApi {
  /** What the app does: 'webgpu' when `probeWebGpu` finds an adapter, else 'wasm' and the reason. */
  pickBackend(): Promise<{ backend: Backend; reason: string }>;
  init(backend: Backend): Promise<InitResult>;
  /**
   * Opens a network: its session (ORT session log at level 0, for node placements) and its weights
   * (float32 unless `weightDtype` says float16).
   */
  open(
    model: string,
    component: Component,
    backend: Backend,
    optimization?: OptimizationLevel,
    weightDtype?: WeightDType,
  ): Promise<OpenResult>;
  run(id: number, inputs: Record<string, WireTensor>): Promise<RunResult>;
  readWeight(id: number, name: string): Promise<number[]>;
  /** 'webgpu': queue.writeBuffer into the weight's own GPUBuffer; 'wasm': a new CPU tensor. */
  writeWeight(id: number, name: string, values: number[]): Promise<void>;
  identity(id: number): IdentityResult;
  /** Runs ONNX model bytes once with CPU feeds on `backend` (op-level checks); outputs come back. */
  runModel(
    model: number[],
    feeds: Record<string, WireTensor>,
    backend: Backend,
  ): Promise<Record<string, WireTensor>>;
  close(id: number): Promise<void>;
}

declare global {
  interface Window {
    numeric?: NumericApi;
  }
}
