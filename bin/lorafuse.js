#!/usr/bin/env node
// `npx lorafuse`: runs the TypeScript CLI in src/cli through tsx, with `?raw` imports (WGSL) supported.
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

registerTsx();
// Registered last so it runs first: it answers `?raw` imports before tsx sees them.
register('./raw-import-hook.js', import.meta.url);

const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
