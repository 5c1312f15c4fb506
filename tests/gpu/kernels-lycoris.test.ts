/**
 * The LyCORIS merge kernels (tucker-core, loha, kron-merge, add-delta) through `mergeModule`
 * against the CPU oracle `applyAdapters`: shared/lycoris-cases.ts (tolerances:
 * shared/module-merge-harness.ts).
 */
import { registerSuites } from './register-suites.ts';
import { LYCORIS_SUITES } from './shared/lycoris-cases.ts';

registerSuites(LYCORIS_SUITES);
