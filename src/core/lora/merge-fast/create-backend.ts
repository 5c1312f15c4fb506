/**
 * Picks the CPU merge backend. `auto` takes the fastest that works here: `wasm-simd` (our kernel,
 * threads where shared memory exists), else `ort-wasm`, else `scalar`. See docs/PERFORMANCE.md
 * for the numbers behind this order.
 */
import type { MergeBackend } from './merge-backend.ts';
import { createOrtWasmBackend } from './ort-wasm.ts';
import { createScalarBackend } from './scalar.ts';
import { createWasmSimdBackend, wasmSimdSupported } from './wasm-simd.ts';

export type MergeBackendKind = 'auto' | 'wasm-simd' | 'ort-wasm' | 'scalar';

export interface MergeBackendOptions {
  kind?: MergeBackendKind;
  /**
   * Threads in all (default: `navigator.hardwareConcurrency` capped at 4; 2 where there is no
   * `navigator`, as in Node 20: pass `os.availableParallelism()` from the CLI).
   */
  threads?: number;
}

function defaultThreads(): number {
  const n = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  return typeof n === 'number' && n > 0 ? Math.min(n, 4) : 2;
}

export async function createMergeBackend(opts: MergeBackendOptions = {}): Promise<MergeBackend> {
  const kind = opts.kind ?? 'auto';
  const threads = opts.threads ?? defaultThreads();
  switch (kind) {
    case 'scalar':
      return createScalarBackend();
    case 'ort-wasm':
      return createOrtWasmBackend({ numThreads: threads });
    case 'wasm-simd':
      return createWasmSimdBackend({ threads });
    case 'auto':
      if (wasmSimdSupported()) return createWasmSimdBackend({ threads });
      try {
        return await createOrtWasmBackend({ numThreads: threads });
      } catch {
        return createScalarBackend();
      }
  }
}
