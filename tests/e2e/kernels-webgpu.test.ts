/**
 * The GPU kernels in Chromium (issue 5): every kernel check that tests/gpu/*.test.ts runs in Node
 * on Dawn, the SAME cases and oracles (tests/gpu/shared/: merge-lora against a float64 oracle;
 * tucker-core, loha, kron-merge, add-delta, dora-norm and dora-rescale through `mergeModule`
 * against the CPU oracle `applyAdapters`; copy; nonfinite-check), here on `navigator.gpu`'s device
 * in Chromium (SwiftShader where no GPU exists). f32 and packed f16, odd shapes (1x1, 7x13, 65x67,
 * 320x768, 3x3 convs), ranks 1 to 128, 1 to 4 adapters. Tolerances (stated and argued in
 * tests/gpu/shared/module-merge-harness.ts and merge-lora-cases.ts): f32 max abs error
 * <= 1e-5 * max|W_eff|; f16 within 1 f16 ulp of the oracle's value rounded to f16.
 *
 * The page (tests/browser/kernels.html) is built with Vite the way the app is (WGSL as `?raw`
 * imports), so the kernels' sources reach the browser as they do in dist/.
 */

import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildNumericPage } from '../browser/build-page.ts';
import type { KernelCaseResult, KernelsInit } from '../browser/kernels-api.ts';
import { KERNEL_SUITES } from '../gpu/shared/suites.ts';
import { launchBrowser, openPage, type PageProblem } from './browser.ts';
import { type StaticServer, serveStatic } from './static-server.ts';

const OUT_DIR = fileURLToPath(new URL('../../test-results/browser-kernels', import.meta.url));

let server: StaticServer;
let browser: Browser;
let page: Page;
let problems: PageProblem[];
let init: KernelsInit;
const timings: KernelCaseResult[] = [];

beforeAll(async () => {
  const built = await buildNumericPage(OUT_DIR, 'kernels.html');
  server = await serveStatic(built.dir, '/kernels/');
  browser = await launchBrowser();
  ({ page, problems } = await openPage(browser));
  await page.goto(`${server.url}kernels.html`);
  await page.waitForFunction(() => document.getElementById('status')?.textContent === 'ready', null, {
    timeout: 60_000,
  });
  init = await page.evaluate(() => window.kernels!.init());
});

afterAll(async () => {
  if (timings.length > 0) {
    const total = timings.reduce((s, t) => s + t.ms, 0);
    const slow = [...timings].sort((a, b) => b.ms - a.ms).slice(0, 5);
    console.log(
      `kernel cases in Chromium on ${init?.adapter}: ${timings.length} in ${(total / 1000).toFixed(1)} s; ` +
        `slowest: ${slow.map((t) => `${t.suite} / ${t.name} ${(t.ms / 1000).toFixed(2)} s`).join('; ')}`,
    );
  }
  await browser?.close();
  await server?.close();
});

describe('kernel page', () => {
  it('has a WebGPU device and the same suites and cases as the Node GPU tests', async () => {
    expect(init.adapter.length).toBeGreaterThan(0);
    const listed = await page.evaluate(() => window.kernels!.list());
    expect(listed).toEqual(
      Object.fromEntries(KERNEL_SUITES.map((s) => [s.name, s.cases.map((c) => c.name)])),
    );
  });
});

for (const suite of KERNEL_SUITES) {
  describe(`${suite.name} in Chromium on WebGPU`, () => {
    for (const c of suite.cases) {
      it(c.name, async () => {
        const [r] = await page.evaluate(([s, n]) => window.kernels!.run(s, [n]), [
          suite.name,
          c.name,
        ] as const);
        expect(r, 'the page ran the case').toBeDefined();
        timings.push(r!);
        // The shared check's own message (what differed, where, the tolerance), in full.
        if (r!.error) expect.fail(`${suite.name} / ${c.name} in Chromium: ${r!.error}`);
      });
    }
  });
}

describe('after every kernel case', () => {
  it('left no uncaptured GPU error and no page error', async () => {
    expect(await page.evaluate(() => window.kernels!.uncaptured())).toEqual([]);
    expect(problems).toEqual([]);
  });
});
