/** nonfinite-check, f32 and packed f16, and assertFinite's error: shared/nonfinite-check-cases.ts. */
import { registerSuites } from './register-suites.ts';
import { NONFINITE_CHECK_SUITES } from './shared/nonfinite-check-cases.ts';

registerSuites(NONFINITE_CHECK_SUITES);
