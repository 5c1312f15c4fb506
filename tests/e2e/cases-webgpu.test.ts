/**
 * The core case runner's second front end (issue 4, item 3): the SAME `runCase` that
 * `lorafuse run-case` runs in Node on the CPU backend, here in Chromium on onnxruntime-web's
 * WebGPU backend (SwiftShader), the fixture set read over HTTP through a `ModelSource`
 * (tests/browser/http-source.ts). Base cases (SD1.5 UNet, SDXL UNet, VAE decode) and one LoRA
 * case through the adapter manager's state ops; every output of the case against the case's
 * stored `outputs.<name>` (Diffusers / PEFT) within 1e-4 max abs (the fixtures'
 * `suggested_atol_other_implementations` for float32 forwards).
 *
 * Every ORT session the case creates must have asked for the 'webgpu' execution provider, and
 * every component's `NetworkSession.backend` must be 'webgpu' (no silent wasm fallback).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareOutputs } from '../../src/core/cases/compare.ts';
import type { CaseTensor } from '../../src/core/cases/state-ops.ts';
import { readSafetensors } from '../../src/core/io/safetensors.ts';
import { buildNumericPage } from '../browser/build-page.ts';
import type { CaseRunResult } from '../browser/cases-api.ts';
import { launchBrowser, openPage, type PageProblem } from './browser.ts';
import { type StaticServer, serveStatic } from './static-server.ts';

const TOL = 1e-4;
const FIXTURES = fileURLToPath(new URL('../fixtures', import.meta.url));
const OUT_DIR = fileURLToPath(new URL('../../test-results/browser-cases', import.meta.url));

/** The fixture set's files a model or LoRA load may list (a static server has no listing). */
function fixtureFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const abs = join(dir, name);
      if (statSync(abs).isDirectory()) walk(abs);
      else out.push(relative(FIXTURES, abs).split(sep).join('/'));
    }
  };
  walk(join(FIXTURES, 'models'));
  walk(join(FIXTURES, 'loras'));
  return out.sort();
}

let server: StaticServer;
let browser: Browser;
let page: Page;
let problems: PageProblem[];
let files: string[];

beforeAll(async () => {
  files = fixtureFiles();
  const built = await buildNumericPage(OUT_DIR, 'cases.html');
  server = await serveStatic(built.dir, '/cases/');
  browser = await launchBrowser();
  ({ page, problems } = await openPage(browser));
  await page.goto(`${server.url}cases.html`);
  await page.waitForFunction(() => document.getElementById('status')?.textContent === 'ready', null, {
    timeout: 60_000,
  });
  const adapter = await page.evaluate(() => window.cases!.init());
  expect(adapter, 'WebGPU adapter').toBeTruthy();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function runInPage(name: string, lora: boolean): Promise<CaseRunResult> {
  return page.evaluate(([n, f, l]) => window.cases!.run(n, f, l), [name, files, lora] as const);
}

/** Runs the case in the page and checks the backend and every output against the stored ones. */
async function checkCase(name: string, lora: boolean): Promise<void> {
  const json = JSON.parse(readFileSync(join(FIXTURES, 'cases', `${name}.json`), 'utf8')) as {
    tensors_file: string;
    outputs: Record<string, unknown>;
  };
  const tensorsPath = join(FIXTURES, 'cases', json.tensors_file);
  const reference = readSafetensors(new Uint8Array(readFileSync(tensorsPath)), tensorsPath);

  const r = await runInPage(name, lora);

  expect(r.sessionProviders.length, `${name}: no ORT session was created`).toBeGreaterThan(0);
  for (const p of r.sessionProviders)
    expect(p, `${name}: a session's execution providers`).toEqual(['webgpu']);
  expect(Object.keys(r.componentBackends).length, `${name}: no model was loaded`).toBeGreaterThan(0);
  for (const [component, backend] of Object.entries(r.componentBackends)) {
    expect(backend, `${name}: ${component} backend`).toBe('webgpu');
  }

  expect(Object.keys(r.outputs).sort()).toEqual(Object.keys(json.outputs).sort());
  const outputs = new Map<string, CaseTensor>(
    Object.entries(r.outputs).map(([k, t]) => [k, { shape: t.shape, data: Float32Array.from(t.data) }]),
  );
  const rows = compareOutputs(outputs, reference, TOL);
  console.log(
    `${name} (${(r.ms / 1000).toFixed(1)} s): ${rows.map((x) => `${x.name} ${x.maxAbs.toExponential(2)}`).join(', ')}`,
  );
  for (const row of rows) {
    expect(row.problem, `${name}: ${row.name}`).toBeUndefined();
    expect(row.maxAbs, `${name}: ${row.name} max abs vs outputs.${row.name}`).toBeLessThanOrEqual(TOL);
  }
  // ORT warns (as a console error) that it keeps shape arithmetic on the CPU, by design; the
  // node placements themselves are checked by numeric-webgpu.test.ts.
  const unexpected = problems.filter((p) => !p.text.includes('VerifyEachNodeIsAssignedToAnEp'));
  expect(unexpected, 'page errors').toEqual([]);
}

describe('runCase in Chromium on WebGPU', () => {
  it('tiny-sd15_unet_base', () => checkCase('tiny-sd15_unet_base', false));
  it('tiny-sdxl_unet_base', () => checkCase('tiny-sdxl_unet_base', false));
  it('tiny-sd15_vae_decode', () => checkCase('tiny-sd15_vae_decode', false));
  it('tiny-sd15_unet_sd15-kohya (LoRA state ops through the adapter manager)', () =>
    checkCase('tiny-sd15_unet_sd15-kohya', true));
});
