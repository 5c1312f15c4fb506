/**
 * Picks the CPU merge backend. `auto` takes the fastest that works here: `wasm-simd` (our kernel,
 * threads where shared memory exists), else `ort-wasm`, else `scalar`. See docs/PERFORMANCE.md
 * for the numbers behind this order. Where WebAssembly SIMD validates, the backend carries a
 * delta cache (delta-cache.ts; `deltaCacheBytes`) that makes per-step schedules cheap.
 */
import { DEFAULT_DELTA_CACHE_BYTES, DeltaCache } from './delta-cache.ts';
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
  /**
   * Budget of the delta cache in bytes (default 512 MiB; 0: no cache). The cache holds `s·up·down`
   * of each LoRA'd module merged more than once with the same factors (as many bytes as the
   * module's fp32 weight; spare room also holds W0 copies), so that a coefficient change is a
   * memory-bound pass instead of a rank-R product; the merged numbers are the same without it.
   */
  deltaCacheBytes?: number;
}

function defaultThreads(): number {
  const n = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  return typeof n === 'number' && n > 0 ? Math.min(n, 4) : 2;
}

export async function createMergeBackend(opts: MergeBackendOptions = {}): Promise<MergeBackend> {
  const backend = await pickBackend(opts);
  const budget = opts.deltaCacheBytes ?? DEFAULT_DELTA_CACHE_BYTES;
  if (!(budget > 0) || !wasmSimdSupported()) return backend;
  const deltaCache = await DeltaCache.create(budget);
  return {
    ...backend,
    deltaCache,
    async dispose() {
      deltaCache.dispose();
      await backend.dispose();
    },
  };
}

async function pickBackend(opts: MergeBackendOptions): Promise<MergeBackend> {
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
