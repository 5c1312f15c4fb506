/**
 * DoRA on the GPU (dora-norm, dora-rescale, add-delta) through `mergeModule` against the CPU
 * oracle `applyAdapters`: shared/dora-cases.ts (tolerances: shared/module-merge-harness.ts).
 */
import { registerSuites } from './register-suites.ts';
import { DORA_SUITES } from './shared/dora-cases.ts';

registerSuites(DORA_SUITES);
