/**
 * LoRA operations in the built app (Chromium, WebGPU on SwiftShader, local Hub, tiny SD1.5):
 * moving a weight slider after an image says the next Generate applies it, and the next image
 * changes; fuse, then unfuse gives the earlier images back pixel-for-pixel; a TIES merge of two
 * adapters joins the panel, generates, and downloads as PEFT safetensors; hotswapping a file.
 *
 * Oracles: two generations of the same settings are bit-identical (generate.test.ts asserts it for
 * a schedule at 0), so "the same image" is exact equality; the PEFT key pattern is Diffusers'
 * `save_lora_weights` layout (docs/LORA-FORMATS.md); module counts come from
 * tests/fixtures/loras/index.json (written by Diffusers/PEFT).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors } from '../../src/core/io/safetensors.ts';
import type { AppFixture } from './app-fixture.ts';
import { type PageProblem, screenshot } from './browser.ts';
import {
  ADAPTER,
  fillGenerateFields,
  LORA_REPO,
  loadTinyModel,
  meanAbsDiff,
  openGenerateApp,
  readGeneratedImage,
} from './generate-helpers.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures', import.meta.url));
const INDEX = JSON.parse(readFileSync(join(FIXTURES, 'loras', 'index.json'), 'utf8')) as Record<
  string,
  { components: Record<string, { num_modules: number }> }
>;
const SECOND_REPO = 'fixtures/sd15-diffusers-trainscript';
const SECOND = 'pytorch_lora_weights';
const HOTSWAP_REPO = 'fixtures/sd15-rank2';

/** A rank-4 LoRA at weight 1 moves this model's pixels by several grey levels (generate.test.ts). */
const MIN_LORA_DIFF = 1;
/**
 * Fused (W0 + c dW folded into the base) vs live (the same sum as the effective weight): equal up
 * to float rounding, which may flip single 8-bit levels; a mean below 0.05 levels is far below
 * what any adapter change does (> 1).
 */
const FUSED_VS_LIVE = 0.05;

let fixture: AppFixture | undefined;
let page: Page;
let problems: PageProblem[];

const panel = (): Locator => page.getByRole('region', { name: 'Generate' });
const status = (): Locator => panel().getByLabel('Generation status');
const row = (name: string): Locator => page.getByRole('listitem', { name, exact: true });
const fuseRegion = (): Locator => page.getByRole('region', { name: 'Fuse and merge' });

async function generateImage(): Promise<Uint8ClampedArray> {
  await panel().getByRole('button', { name: 'Generate', exact: true }).click();
  await expect.poll(() => status().getAttribute('data-status'), { timeout: 120_000 }).toMatch(/done|error/);
  expect(await page.getByRole('alert').allTextContents()).toEqual([]);
  expect(await status().getAttribute('data-status')).toBe('done');
  return readGeneratedImage(panel());
}

async function addFromRepo(repo: string, file: string): Promise<void> {
  await page.getByRole('button', { name: 'Add LoRA…' }).click();
  const d = page.getByRole('dialog');
  await d.getByLabel('LoRA repository').fill(repo);
  await d.getByRole('button', { name: 'List LoRA files' }).click();
  await d.getByRole('button', { name: `Add ${file}.safetensors` }).click({ timeout: 60_000 });
  await d.waitFor({ state: 'detached', timeout: 60_000 });
}

beforeAll(async () => {
  fixture = await openGenerateApp();
  ({ page, problems } = fixture);
}, 90_000);

/** Loads the tiny model, sets a small fast generation and adds the kohya LoRA. */
async function setUp(): Promise<void> {
  await loadTinyModel(page);
  await fillGenerateFields(page, { steps: 2 });
  await addFromRepo(LORA_REPO, ADAPTER);
}

afterAll(async () => {
  await fixture?.close();
});

describe('LoRA operations (built app, Chromium, local Hub)', () => {
  let base: Uint8ClampedArray;
  let live: Uint8ClampedArray;

  it('moving a weight slider after an image says the next Generate applies it; the next image changes', async () => {
    await setUp();
    await row(ADAPTER).getByLabel(`${ADAPTER} enabled`).uncheck();
    base = await generateImage();
    await row(ADAPTER).getByLabel(`${ADAPTER} enabled`).check();
    const pending = page.getByRole('status', { name: 'Adapter changes' });
    await pending.waitFor();
    live = await generateImage();
    expect(meanAbsDiff(base, live)).toBeGreaterThan(MIN_LORA_DIFF);
    expect(await pending.count()).toBe(0);

    await page.getByRole('slider', { name: `${ADAPTER} weight`, exact: true }).fill('0.5');
    await pending.waitFor();
    await screenshot(page, 'adapter-ops-1-pending-weight');
    const half = await generateImage();
    expect(meanAbsDiff(half, live)).toBeGreaterThan(0);
    expect(meanAbsDiff(half, base)).toBeGreaterThan(0);
    await page.getByRole('spinbutton', { name: `${ADAPTER} weight value`, exact: true }).fill('1');
    expect(await generateImage()).toEqual(live);
  }, 240_000);

  it('fuses the adapter (shown on its row, kept across generations) and unfuse gives the images back exactly', async () => {
    await fuseRegion().getByRole('button', { name: 'Fuse', exact: true }).click();
    await expect
      .poll(() => fuseRegion().getByLabel('Fused adapters').textContent(), { timeout: 60_000 })
      .toBe(`Fused: ${ADAPTER} (1 × scale 1)`);
    await row(ADAPTER)
      .getByRole('status', { name: `${ADAPTER} fused` })
      .waitFor();
    expect(await page.getByRole('slider', { name: `${ADAPTER} weight`, exact: true }).isDisabled()).toBe(
      true,
    );
    expect(
      await row(ADAPTER)
        .getByRole('button', { name: `Delete ${ADAPTER}` })
        .isDisabled(),
    ).toBe(true);
    await screenshot(page, 'adapter-ops-2-fused');
    const fused = await generateImage();
    expect(meanAbsDiff(fused, live)).toBeLessThan(FUSED_VS_LIVE);
    expect(await generateImage()).toEqual(fused);

    await fuseRegion().getByRole('button', { name: 'Unfuse' }).click();
    await expect
      .poll(() => fuseRegion().getByLabel('Fused adapters').textContent(), { timeout: 60_000 })
      .toBe('Nothing fused.');
    expect(await generateImage()).toEqual(live);
    await row(ADAPTER).getByLabel(`${ADAPTER} enabled`).uncheck();
    expect(await generateImage()).toEqual(base);
    await row(ADAPTER).getByLabel(`${ADAPTER} enabled`).check();
  }, 300_000);

  it('merges two adapters with TIES into a new row that generates, and downloads it as PEFT safetensors', async () => {
    await addFromRepo(SECOND_REPO, SECOND);
    await fuseRegion().getByRole('button', { name: 'Merge…' }).click();
    const d = page.getByRole('dialog', { name: 'Merge adapters' });
    await d.getByLabel(`Merge ${ADAPTER}`).check();
    await d.getByLabel(`Merge ${SECOND}`).check();
    await d.getByLabel(`${SECOND} merge weight`).fill('0.5');
    await d.getByLabel('Method').selectOption('ties');
    await d.getByLabel('Density').fill('0.5');
    await d.getByLabel('Majority sign').selectOption('total');
    await d.getByLabel('New adapter name').fill('tied');
    await screenshot(page, 'adapter-ops-3-merge-dialog');
    await d.getByRole('button', { name: 'Merge', exact: true }).click();
    await d.waitFor({ state: 'detached', timeout: 60_000 });
    await row('tied').waitFor();
    expect(await row('tied').locator('[data-fact="format"] dd').textContent()).toBe('peft');
    expect(await row('tied').textContent()).toContain(`merged (ties) from ${ADAPTER} + ${SECOND}`);

    await row(ADAPTER).getByLabel(`${ADAPTER} enabled`).uncheck();
    await row(SECOND).getByLabel(`${SECOND} enabled`).uncheck();
    const merged = await generateImage();
    expect(meanAbsDiff(merged, base)).toBeGreaterThan(MIN_LORA_DIFF);

    await row('tied').getByRole('button', { name: 'Save tied' }).click();
    await row('tied').getByLabel('tied save format').selectOption('peft');
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 60_000 }),
      row('tied').getByRole('button', { name: 'Download tied.safetensors' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe('tied.safetensors');
    const bytes = new Uint8Array(readFileSync(await download.path()));
    const names = readSafetensors(bytes, 'tied.safetensors').names();
    expect(names.length).toBeGreaterThan(0);
    expect(names.every((n) => /^(unet|text_encoder)\..+\.lora_[AB]\.weight$/.test(n))).toBe(true);
    // TIES keeps the union of the two adapters' modules; the kohya one's UNet set is the larger.
    const unetA = names.filter((n) => n.startsWith('unet.') && n.endsWith('.lora_A.weight')).length;
    expect(unetA).toBe(INDEX[ADAPTER]!.components.unet!.num_modules);
    await screenshot(page, 'adapter-ops-4-merged');
  }, 300_000);

  it('hotswaps a file under the same name and the next image changes', async () => {
    await row('tied').getByLabel('tied enabled').uncheck();
    await row(ADAPTER).getByLabel(`${ADAPTER} enabled`).check();
    await row(ADAPTER)
      .getByRole('button', { name: `Replace ${ADAPTER} with…` })
      .click();
    const d = page.getByRole('dialog');
    await d.getByLabel('LoRA repository').fill(HOTSWAP_REPO);
    await d.getByRole('button', { name: 'List LoRA files' }).click();
    await d.getByRole('button', { name: 'Use pytorch_lora_weights.safetensors' }).click({ timeout: 60_000 });
    await d.waitFor({ state: 'detached', timeout: 60_000 });
    await expect.poll(() => row(ADAPTER).locator('[data-fact="rank"] dd').textContent()).toBe('2');
    const swapped = await generateImage();
    expect(meanAbsDiff(swapped, live)).toBeGreaterThan(0);
    expect(meanAbsDiff(swapped, base)).toBeGreaterThan(0);
    await screenshot(page, 'adapter-ops-5-hotswapped');
    expect(problems).toEqual([]);
  }, 240_000);
});
