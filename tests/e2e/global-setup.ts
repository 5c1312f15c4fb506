/**
 * Prerequisites of the browser tests, checked once: the built app and a Chromium. A missing one
 * fails with the command that provides it (never a skip).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const DIST_DIR = fileURLToPath(new URL('../../dist', import.meta.url));

export default function setup(): void {
  if (!existsSync(resolve(DIST_DIR, 'index.html'))) {
    throw new Error(
      `The e2e tests need the built app, but ${DIST_DIR}/index.html does not exist.\n` +
        'Run `npm run test:e2e` (it builds first), or `npx vite build` and then `npx vitest run -c vitest.e2e.config.ts`.',
    );
  }
  const chromium = process.env.LORAFUSE_CHROMIUM;
  if (!chromium || !existsSync(chromium)) {
    throw new Error(
      `No Chromium for the e2e tests (LORAFUSE_CHROMIUM=${chromium ?? 'unset'}). vitest.e2e.config.ts sets it ` +
        'from scripts/swiftshader.ts: run `npm ci` (installs @sparticuz/chromium) or `apt-get install chromium`, ' +
        'or point LORAFUSE_CHROMIUM at a Chromium binary.',
    );
  }
}
