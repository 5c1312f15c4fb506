/** merge-lora against a float64 oracle, f32 and packed f16, and its pipeline cache: shared/merge-lora-cases.ts. */
import { registerSuites } from './register-suites.ts';
import { MERGE_LORA_SUITES } from './shared/merge-lora-cases.ts';

registerSuites(MERGE_LORA_SUITES);
