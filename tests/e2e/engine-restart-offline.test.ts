/**
 * The engine's worker dies and comes back; the Hub goes away and the app keeps working (built app,
 * Chromium, local Hub, tiny SD1.5 + a kohya LoRA):
 * - the Model panel lists what the Hub cache holds per repo, with its size;
 * - when the worker dies the app says so and "Restart engine" starts a new one, reads the LoRA and
 *   loads the model again; the store's settings stay, and the next image is the same as before;
 * - with the Hub stopped, a reloaded page loads the model and the LoRA from the cache and
 *   generates the same image again (offline);
 * - a cached repo is deleted after a confirm, freeing exactly its file's bytes.
 *
 * Oracles: the same settings give bit-identical images (generate.test.ts); the LoRA repo's cache
 * holds exactly its one .safetensors file, whose size is the fixture's on disk.
 */
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppFixture } from './app-fixture.ts';
import { type PageProblem, screenshot } from './browser.ts';
import {
  ADAPTER,
  fillGenerateFields,
  LORA_REPO,
  loadTinyModel,
  MODEL_REPO,
  meanAbsDiff,
  openGenerateApp,
  readGeneratedImage,
} from './generate-helpers.ts';

const LORA_FILE = fileURLToPath(
  new URL(`../fixtures/loras/${ADAPTER}/${ADAPTER}.safetensors`, import.meta.url),
);
const MIN_LORA_DIFF = 1;

let fixture: AppFixture | undefined;
let page: Page;
let problems: PageProblem[];
let hubUrl = '';

const panel = (): Locator => page.getByRole('region', { name: 'Generate' });
const status = (): Locator => panel().getByLabel('Generation status');
const cached = (): Locator => page.getByRole('region', { name: 'Cached models' });

async function generateImage(): Promise<Uint8ClampedArray> {
  await panel().getByRole('button', { name: 'Generate', exact: true }).click();
  await expect.poll(() => status().getAttribute('data-status'), { timeout: 120_000 }).toMatch(/done|error/);
  expect(await page.getByRole('alert').allTextContents()).toEqual([]);
  expect(await status().getAttribute('data-status')).toBe('done');
  return readGeneratedImage(panel());
}

/** Loads the tiny model, sets a small fast generation, adds the kohya LoRA from its repo listing. */
async function setUp(): Promise<void> {
  await loadTinyModel(page);
  await fillGenerateFields(page, { steps: 2 });
  await page.getByRole('button', { name: 'Add LoRA…' }).click();
  const d = page.getByRole('dialog');
  await d.getByLabel('LoRA repository').fill(LORA_REPO);
  await d.getByRole('button', { name: 'List LoRA files' }).click();
  await d.getByRole('button', { name: `Add ${ADAPTER}.safetensors` }).click({ timeout: 60_000 });
  await d.waitFor({ state: 'detached', timeout: 60_000 });
}

async function waitLoaded(): Promise<void> {
  await expect
    .poll(() => panel().getByLabel('Model status').textContent(), { timeout: 120_000 })
    .toMatch(/^Loaded fixtures\/tiny-sd15/);
}

beforeAll(async () => {
  fixture = await openGenerateApp();
  ({ page, problems } = fixture);
  hubUrl = fixture.hub.url;
}, 90_000);

afterAll(async () => {
  await fixture?.close();
});

describe('engine restart, Hub cache and offline (built app, Chromium)', () => {
  let first: Uint8ClampedArray;
  let base: Uint8ClampedArray;

  it('generates with the LoRA, and lists the cached repos with their sizes', async () => {
    await setUp();
    const row = page.getByRole('listitem', { name: ADAPTER, exact: true });
    await row.getByLabel(`${ADAPTER} enabled`).uncheck();
    base = await generateImage();
    await row.getByLabel(`${ADAPTER} enabled`).check();
    first = await generateImage();
    expect(meanAbsDiff(base, first)).toBeGreaterThan(MIN_LORA_DIFF);

    const list = cached().getByRole('list', { name: 'Cached repositories' });
    await expect.poll(() => list.getByRole('listitem').count(), { timeout: 30_000 }).toBe(2);
    const lora = list.getByRole('listitem', { name: LORA_REPO });
    expect(await lora.locator('data').getAttribute('value')).toBe(String(statSync(LORA_FILE).size));
    const model = list.getByRole('listitem', { name: MODEL_REPO });
    expect(Number(await model.locator('data').getAttribute('value'))).toBeGreaterThan(0);
  }, 240_000);

  it('when the worker dies the app offers "Restart engine"; after it, the same image again', async () => {
    const worker = page.workers().find((w) => w.url().includes('diffusion.worker'));
    expect(
      worker,
      page
        .workers()
        .map((w) => w.url())
        .join(', '),
    ).toBeDefined();
    void worker!.evaluate(() => (globalThis as unknown as { close(): void }).close()).catch(() => {});
    const lost = page.getByRole('region', { name: 'Engine stopped' });
    await lost.waitFor({ timeout: 30_000 });
    expect(await lost.textContent()).toContain('The engine stopped');
    await screenshot(page, 'engine-restart-1-lost');
    await page.getByRole('button', { name: 'Dismiss error' }).click();

    await lost.getByRole('button', { name: 'Restart engine' }).click();
    await lost.waitFor({ state: 'detached', timeout: 120_000 });
    await waitLoaded();
    expect(await page.getByRole('alert').count()).toBe(0);
    expect(await generateImage()).toEqual(first);
    await screenshot(page, 'engine-restart-2-restarted');
  }, 240_000);

  it('with the Hub stopped, a reloaded page loads the model and LoRA from the cache and generates the same image', async () => {
    await fixture?.stopHub();
    await page.reload();
    await page.getByRole('heading', { name: 'Generate', exact: true }).waitFor({ timeout: 60_000 });
    await setUp();
    expect(await generateImage()).toEqual(first);
    await screenshot(page, 'engine-restart-3-offline');
  }, 240_000);

  it('deletes a cached repo after a confirm, freeing its file', async () => {
    const list = cached().getByRole('list', { name: 'Cached repositories' });
    const lora = list.getByRole('listitem', { name: LORA_REPO });
    await lora.getByRole('button', { name: `Delete ${LORA_REPO} from the cache` }).click();
    await lora.getByRole('status').waitFor();
    expect(await lora.getByRole('status').textContent()).toMatch(/^Delete .* of cached files\?$/);
    await lora.getByRole('button', { name: `Confirm delete ${LORA_REPO}` }).click();
    await lora.waitFor({ state: 'detached', timeout: 30_000 });
    expect(await list.getByRole('listitem').count()).toBe(1);
    await cached().getByText(`Deleted ${LORA_REPO}`).waitFor();
    await screenshot(page, 'engine-restart-4-deleted');
  }, 60_000);

  it('logged no errors other than the refused connections to the stopped Hub', () => {
    const unexpected = problems.filter(
      (p) =>
        !(
          p.kind === 'console' &&
          /net::ERR_CONNECTION_REFUSED|net::ERR_FAILED/.test(p.text) &&
          p.url.startsWith(hubUrl)
        ),
    );
    expect(unexpected).toEqual([]);
  });
});
