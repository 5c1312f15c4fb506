/**
 * The core case runner's second front end (issues 4 and 5): the SAME `runCase` that
 * `lorafuse run-case` runs in Node on the CPU backend, here in Chromium on onnxruntime-web's
 * WebGPU backend (SwiftShader where no GPU exists), the fixture set read over HTTP through a
 * `ModelSource` (tests/browser/http-source.ts). EVERY public forward and text-encoder case: the
 * UNet base cases (SD1.5, SDXL), the VAE decode, and every UNet / text-encoder LoRA case (formats,
 * weights, call-time scale, fuse, unfuse, disable, delete, hotswap, block weights, two adapters),
 * the state ops through the adapter manager that tests/browser/case-manager.ts chooses. Every
 * output against the case's stored `outputs.<name>` (Diffusers / PEFT) within 1e-4 max abs (the
 * fixtures README's tolerance for float32 forwards and text encoders; the smallest LoRA effect in
 * any case is 0.039, so a wrong LoRA cannot hide inside it). Where lorafuse deliberately differs
 * from Diffusers (README points 1-2) the output is compared with the stored output that expresses
 * lorafuse's rule (core/cases/deliberate-differences.ts).
 *
 * Every ORT session a case creates must have asked for the 'webgpu' execution provider, and every
 * component's `NetworkSession.backend` must be 'webgpu' (no silent wasm fallback).
 *
 * Runtime: one page and one GPU device for all cases. Each fixture model is loaded once and reset
 * to its freshly loaded state after each case (tests/browser/model-cache.ts: every weight input
 * bound back to its own buffer, whose loaded contents are copied back in); the adapter manager is
 * made afresh per case. A reset that missed anything would show in the next case's outputs (most
 * cases start with a base forward). Per-case times, split by phase, are printed.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caseTolerance, isStateOp, parseCaseJson } from '../../src/core/cases/case-json.ts';
import { compareOutputs } from '../../src/core/cases/compare.ts';
import { deliberateDifference } from '../../src/core/cases/deliberate-differences.ts';
import type { CaseTensor } from '../../src/core/cases/state-ops.ts';
import { readSafetensors } from '../../src/core/io/safetensors.ts';
import { buildNumericPage } from '../browser/build-page.ts';
import type { CaseRunResult } from '../browser/cases-api.ts';
import { launchBrowser, openPage, type PageProblem } from './browser.ts';
import { type StaticServer, serveStatic } from './static-server.ts';

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

function readCaseJson(name: string): unknown {
  return JSON.parse(readFileSync(join(FIXTURES, 'cases', `${name}.json`), 'utf8'));
}

/** Every public forward and text-encoder case of the index (UNet, text encoder, VAE decode). */
const CASES = (JSON.parse(readFileSync(join(FIXTURES, 'cases', 'index.json'), 'utf8')) as { case: string }[])
  .map((c) => c.case)
  .filter((n) => /^tiny-sd(15|xl)_(unet|te|vae)_/.test(n))
  .filter((n) => (readCaseJson(n) as { set?: unknown }).set === 'public');

let server: StaticServer;
let browser: Browser;
let page: Page;
let problems: PageProblem[];
let files: string[];
const timings: { name: string; ms: number; manager: string | null; phases: Record<string, number> }[] = [];

/** The page's time split ('load model', each state op, 'scale', 'get_weight'; the rest: forwards), s. */
function phaseText(ms: number, phases: Record<string, number>): string {
  const rest = ms - Object.values(phases).reduce((a, b) => a + b, 0);
  return [...Object.entries(phases), ['forwards', rest] as const]
    .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}`)
    .join(', ');
}

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
  if (timings.length > 0) {
    const total = timings.reduce((s, t) => s + t.ms, 0);
    console.log(
      `${timings.length} cases in Chromium on WebGPU, ${(total / 1000).toFixed(1)} s in the page:\n` +
        timings
          .map(
            (t) =>
              `  ${t.name} ${(t.ms / 1000).toFixed(1)} s${t.manager ? ` (${t.manager})` : ''}: ${phaseText(t.ms, t.phases)}`,
          )
          .join('\n'),
    );
  }
  await browser?.close();
  await server?.close();
});

/** Runs the case in the page and checks the backend and every output against the stored ones. */
async function checkCase(name: string): Promise<void> {
  const raw = readCaseJson(name);
  const json = parseCaseJson(raw, name);
  const tensorsPath = join(FIXTURES, 'cases', json.tensors_file);
  const reference = readSafetensors(new Uint8Array(readFileSync(tensorsPath)), tensorsPath);
  const tol = caseTolerance(json);

  const r: CaseRunResult = await page.evaluate(([n, f]) => window.cases!.run(n, f), [name, files] as const);
  timings.push({ name, ms: r.ms, manager: r.manager, phases: r.phases });

  expect(r.modelSessionProviders.length, `${name}: the model has no ORT session`).toBeGreaterThan(0);
  for (const p of [...r.modelSessionProviders, ...r.caseSessionProviders])
    expect(p, `${name}: a session's execution providers`).toEqual(['webgpu']);
  expect(r.rebound, `${name}: weights not bound to their own buffers after the reset`).toEqual([]);
  expect(Object.keys(r.componentBackends).length, `${name}: no model was loaded`).toBeGreaterThan(0);
  for (const [component, backend] of Object.entries(r.componentBackends)) {
    expect(backend, `${name}: ${component} backend`).toBe('webgpu');
  }
  if (json.ops.some(isStateOp)) expect(r.manager, `${name}: the state ops' manager`).not.toBeNull();

  expect(Object.keys(r.outputs).sort()).toEqual(Object.keys(json.outputs).sort());
  const outputs = new Map<string, CaseTensor>(
    Object.entries(r.outputs).map(([k, t]) => [k, { shape: t.shape, data: Float32Array.from(t.data) }]),
  );
  const rows = compareOutputs(
    outputs,
    reference,
    tol,
    (out) => deliberateDifference(name, out)?.reference ?? out,
  );
  console.log(
    `${name} (${(r.ms / 1000).toFixed(1)} s): ${rows
      .map((x) => `${x.name}${x.reference ? ` (= ${x.reference})` : ''} ${x.maxAbs.toExponential(2)}`)
      .join(', ')}`,
  );
  for (const row of rows) {
    expect(row.problem, `${name}: ${row.name}`).toBeUndefined();
    expect(
      row.maxAbs,
      `${name}: ${row.name} max abs vs outputs.${row.reference ?? row.name}`,
    ).toBeLessThanOrEqual(tol);
  }
  // ORT warns (as a console error) that it keeps shape arithmetic on the CPU, by design; the
  // node placements themselves are checked by numeric-webgpu.test.ts.
  const unexpected = problems.filter((p) => !p.text.includes('VerifyEachNodeIsAssignedToAnEp'));
  expect(unexpected, 'page errors').toEqual([]);
}

describe('runCase in Chromium on WebGPU: every public forward and text-encoder case', () => {
  it('covers the public UNet, text-encoder and VAE cases', () => {
    // 25 UNet / text-encoder cases (as tests/numeric/cases-lora.test.ts) and the VAE decode.
    expect(CASES.length).toBe(26);
    expect(CASES).toContain('tiny-sd15_vae_decode');
  });

  for (const name of CASES) it(name, () => checkCase(name));

  it('left no uncaptured GPU error', async () => {
    expect(await page.evaluate(() => window.cases!.uncaptured())).toEqual([]);
  });
});
