/**
 * Gallery in the built app (Chromium, WebGPU on SwiftShader, local Hub): `<lora:sd15-kohya:0.5>`
 * in the prompt changes the image against both no LoRA and the panel's weight 1 at the same seed;
 * the gallery's PNG download carries an A1111 `parameters` chunk that reads back in Node; setting
 * that PNG on "Restore from PNG" brings the Generate panel's fields back.
 */
import { readFileSync } from 'node:fs';
import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPngParameters } from '../../src/core/image/png-chunks.ts';
import { parseGenerationParams } from '../../src/core/pipeline/generation-params.ts';
import type { AppFixture } from './app-fixture.ts';
import { type PageProblem, screenshot } from './browser.ts';
import {
  ADAPTER,
  LORA_REPO,
  MODEL_REPO,
  meanAbsDiff,
  openGenerateApp,
  readGeneratedImage,
} from './generate-helpers.ts';

const PROMPT = 'a photo of a cat';
const TAGGED = `${PROMPT} <lora:${ADAPTER}:0.5>`;
/**
 * As in generate.test.ts: same-seed runs are bit-identical, so any mean difference (0-255 per
 * channel) is the LoRA's; measured 2.6-5.4 here (64x64, 2 steps), so 1 leaves margin both ways.
 */
const MIN_LORA_DIFF = 1;

let fixture: AppFixture | undefined;
let page: Page;
let problems: PageProblem[];

const panel = (): Locator => page.getByRole('region', { name: 'Generate' });
const gallery = (): Locator => page.getByRole('region', { name: 'Gallery' });
const status = (): Locator => panel().getByLabel('Generation status');
const field = (name: string): Locator => panel().getByLabel(name, { exact: true });
/** A control whose accessible name includes its value (textarea, select), found by its label's caption. */
const captioned = (caption: string, tag: 'textarea' | 'select'): Locator =>
  panel()
    .locator('label', { has: page.locator('span', { hasText: new RegExp(`^${caption}$`) }) })
    .locator(tag);
const textArea = (caption: string): Locator => captioned(caption, 'textarea');

async function generateImage(): Promise<Uint8ClampedArray> {
  const before = await gallery().getByRole('listitem').count();
  await panel().getByRole('button', { name: 'Generate', exact: true }).click();
  await expect.poll(() => status().getAttribute('data-status'), { timeout: 120_000 }).toMatch(/done|error/);
  expect(await page.getByRole('alert').allTextContents()).toEqual([]);
  await expect.poll(() => gallery().getByRole('listitem').count(), { timeout: 30_000 }).toBe(before + 1);
  return readGeneratedImage(panel());
}

beforeAll(async () => {
  fixture = await openGenerateApp();
  ({ page, problems } = fixture);
}, 90_000);

afterAll(async () => {
  await fixture?.close();
});

describe('Gallery, prompt LoRA tags and PNG parameters (built app)', () => {
  let pngPath = '';
  let scheduler = '';

  it('<lora:name:0.5> in the prompt differs from no LoRA and from the panel weight 1', async () => {
    await page.getByLabel('Model repository').fill(MODEL_REPO);
    await panel().getByRole('button', { name: 'Load model' }).click();
    await expect
      .poll(() => panel().getByLabel('Model status').textContent(), { timeout: 120_000 })
      .toMatch(/^Loaded fixtures\/tiny-sd15/);
    await textArea('Prompt').fill(PROMPT);
    await textArea('Negative prompt').fill('blurry');
    await field('Steps').fill('2');
    await field('Guidance').fill('6.5');
    await field('Seed').fill('42');
    await field('Width').fill('16');
    await field('Height').fill('16');
    const base = await generateImage();

    await page.getByRole('button', { name: 'Add LoRA…' }).click();
    const d = page.getByRole('dialog');
    await d.getByLabel('LoRA repository').fill(LORA_REPO);
    await d.getByRole('button', { name: 'List LoRA files' }).click();
    await d.getByRole('button', { name: `Add ${ADAPTER}.safetensors` }).click({ timeout: 60_000 });
    await d.waitFor({ state: 'detached', timeout: 60_000 });

    const full = await generateImage(); // panel weight 1, no tag
    await textArea('Prompt').fill(TAGGED);
    const half = await generateImage();
    expect(meanAbsDiff(base, full)).toBeGreaterThan(MIN_LORA_DIFF);
    expect(meanAbsDiff(half, base)).toBeGreaterThan(MIN_LORA_DIFF);
    expect(meanAbsDiff(half, full)).toBeGreaterThan(MIN_LORA_DIFF);
    const newest = gallery().getByRole('listitem').first();
    expect(await newest.locator('pre.infotext').textContent()).toContain(TAGGED);
    await screenshot(page, 'gallery-1-tagged');
  }, 240_000);

  it('the downloaded PNG carries the parameters (read back in Node)', async () => {
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      gallery().getByRole('link', { name: 'Download PNG' }).first().click(),
    ]);
    pngPath = await download.path();
    const bytes = new Uint8Array(readFileSync(pngPath));
    const text = await readPngParameters(bytes, download.suggestedFilename());
    expect(text).toBeDefined();
    const p = parseGenerationParams(text!);
    expect(p).toMatchObject({
      prompt: TAGGED,
      negativePrompt: 'blurry',
      steps: 2,
      cfgScale: 6.5,
      seed: 42,
      width: 16,
      height: 16,
      model: MODEL_REPO,
    });
    expect(p.scheduler).toBeDefined();
    scheduler = p.scheduler!;
    expect(p.sampler).toBeUndefined();
  }, 60_000);

  it('Restore from PNG sets the Generate panel back', async () => {
    await textArea('Prompt').fill('something else');
    await textArea('Negative prompt').fill('');
    await field('Steps').fill('7');
    await field('Guidance').fill('3');
    await field('Seed').fill('1');
    await field('Width').fill('128');
    await field('Height').fill('96');
    await gallery().getByLabel('Restore from PNG').setInputFiles(pngPath);
    await expect.poll(() => textArea('Prompt').inputValue(), { timeout: 10_000 }).toBe(TAGGED);
    expect(await textArea('Negative prompt').inputValue()).toBe('blurry');
    expect(await field('Steps').inputValue()).toBe('2');
    expect(await field('Guidance').inputValue()).toBe('6.5');
    expect(await field('Seed').inputValue()).toBe('42');
    expect(await field('Width').inputValue()).toBe('16');
    expect(await field('Height').inputValue()).toBe('16');
    expect(await captioned('Scheduler', 'select').inputValue()).toBe(scheduler);
    expect(await page.getByRole('alert').count()).toBe(0);
    expect(problems).toEqual([]);
    await screenshot(page, 'gallery-2-restored');
  }, 60_000);
});
