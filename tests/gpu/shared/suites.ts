/**
 * Every kernel check of src/core/gpu/kernels/, as framework-free suites: merge-lora directly;
 * tucker-core, loha, kron-merge and add-delta through `mergeModule` (LyCORIS suites); dora-norm
 * and dora-rescale through `mergeModule` (DoRA suites); copy; nonfinite-check. Node registers them
 * per test file (tests/gpu/*.test.ts); the browser page (tests/browser/kernels-page.ts) runs all.
 */
import { COPY_SUITES } from './copy-cases.ts';
import { DORA_SUITES } from './dora-cases.ts';
import type { KernelSuite } from './kernel-case.ts';
import { LYCORIS_SUITES } from './lycoris-cases.ts';
import { MERGE_LORA_SUITES } from './merge-lora-cases.ts';
import { NONFINITE_CHECK_SUITES } from './nonfinite-check-cases.ts';

export const KERNEL_SUITES: readonly KernelSuite[] = [
  ...MERGE_LORA_SUITES,
  ...LYCORIS_SUITES,
  ...DORA_SUITES,
  ...COPY_SUITES,
  ...NONFINITE_CHECK_SUITES,
];
