/**
 * What the case test page (cases-page.ts) exposes on `window.cases`, shared with the Node side
 * (tests/e2e/cases-webgpu.test.ts). Outputs cross as plain arrays; the oracle (the case's stored
 * `outputs.*`) stays on the Node side.
 */

export interface CaseOutputWire {
  shape: number[];
  data: number[];
}

export interface CaseRunResult {
  /** Every key of the case's `outputs`, as `runCase` produced it. */
  outputs: Record<string, CaseOutputWire>;
  /** `executionProviders` of every `ort.InferenceSession.create` while the case ran. */
  sessionProviders: string[][];
  /** `NetworkSession.backend` of every component of the loaded model. */
  componentBackends: Record<string, string>;
  ms: number;
}

export interface CasesApi {
  /** Creates our WebGPU device; the WebGPU adapter in words. */
  init(): Promise<string>;
  /**
   * Runs `cases/<name>.json` through `runCase` on the 'webgpu' backend, the fixture set read over
   * HTTP from `./fixtures/` (`files`: its file list). `lora`: with the adapter manager's state ops.
   */
  run(name: string, files: string[], lora: boolean): Promise<CaseRunResult>;
}

declare global {
  interface Window {
    cases?: CasesApi;
  }
}
