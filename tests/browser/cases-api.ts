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
  /** `executionProviders` of every `ort.InferenceSession.create` of the case's model's load. */
  modelSessionProviders: string[][];
  /** ... of every `ort.InferenceSession.create` while the case ran (its model's load included if it loaded it). */
  caseSessionProviders: string[][];
  /** Weight inputs of the case's model not bound to their own buffer after the case's reset (must be none). */
  rebound: string[];
  /** `NetworkSession.backend` of every component of the loaded model. */
  componentBackends: Record<string, string>;
  /** The adapter manager behind the state ops (case-manager.ts); null for a case without any. */
  manager: string | null;
  ms: number;
  /**
   * Where the time went, ms: 'load model', each state op by name, 'scale' (setting the call-time
   * scale and back), 'get_weight'; the rest of `ms` is the forwards and reading their outputs.
   */
  phases: Record<string, number>;
}

export interface CasesApi {
  /** Creates our WebGPU device; the WebGPU adapter in words. */
  init(): Promise<string>;
  /**
   * Runs `cases/<name>.json` through `runCase` on the 'webgpu' backend, the fixture set read over
   * HTTP from `./fixtures/` (`files`: its file list). A case with LoRA state ops gets them from
   * the adapter manager of case-manager.ts; a case without runs on a model the page loads.
   */
  run(name: string, files: string[]): Promise<CaseRunResult>;
  /** Messages of GPU errors that no error scope caught since `init`. */
  uncaptured(): string[];
}

declare global {
  interface Window {
    cases?: CasesApi;
  }
}
