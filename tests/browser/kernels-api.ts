/**
 * What the kernel test page (kernels-page.ts) exposes on `window.kernels`, shared with the Node
 * side (tests/e2e/kernels-webgpu.test.ts). The cases and their oracles are the ones Node runs on
 * Dawn (tests/gpu/shared/); the page runs them on `navigator.gpu`'s device and reports each.
 */

export interface KernelsInit {
  /** The WebGPU adapter in words. */
  adapter: string;
  shaderF16: boolean;
}

export interface KernelCaseResult {
  suite: string;
  name: string;
  /** The check's message when the case failed (thrown by tests/gpu/shared/check.ts or the kernel). */
  error?: string;
  ms: number;
}

export interface KernelsApi {
  init(): Promise<KernelsInit>;
  /** Suite name -> its case names, in order. */
  list(): Record<string, string[]>;
  /** Runs the named cases of one suite (all of them when `names` is absent), one after another. */
  run(suite: string, names?: string[]): Promise<KernelCaseResult[]>;
  /** Messages of GPU errors that no error scope caught since `init`. */
  uncaptured(): string[];
}

declare global {
  interface Window {
    kernels?: KernelsApi;
  }
}
