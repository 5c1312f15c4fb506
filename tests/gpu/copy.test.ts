/** The copy kernel: shared/copy-cases.ts. */
import { registerSuites } from './register-suites.ts';
import { COPY_SUITES } from './shared/copy-cases.ts';

registerSuites(COPY_SUITES);
