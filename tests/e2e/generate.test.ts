/**
 * Text to image in the built app (Chromium, WebGPU on SwiftShader, local Hub): load the tiny
 * SD1.5 fixture, generate a base image; a LoRA (sd15-kohya) changes it; the same LoRA scheduled to
 * 0 at every step gives exactly the base image; Cancel stops a 20-step run within one step.
 */
import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppFixture } from './app-fixture.ts';
import { type PageProblem, screenshot } from './browser.ts';
import {
  ADAPTER,
  E2E_BACKEND,
  fillGenerateFields,
  LORA_REPO,
  loadTinyModel,
  meanAbsDiff,
  openGenerateApp,
  readGeneratedImage,
} from './generate-helpers.ts';

/**
 * Mean absolute difference (0-255 per channel) a LoRA must cause. Two runs with the same seed and
 * no change are bit-identical (the schedule-0 case asserts exactly that), so any difference is the
 * adapter's; 1 grey level is far above nothing and far below what a rank-4 LoRA at weight 1 does.
 */
const MIN_LORA_DIFF = 1;

let fixture: AppFixture | undefined;
let page: Page;
let problems: PageProblem[];

const panel = (): Locator => page.getByRole('region', { name: 'Generate' });
const status = (): Locator => panel().getByLabel('Generation status');

async function generateImage(): Promise<Uint8ClampedArray> {
  await panel().getByRole('button', { name: 'Generate', exact: true }).click();
  await expect.poll(() => status().getAttribute('data-status'), { timeout: 120_000 }).toMatch(/done|error/);
  const alerts = await page.getByRole('alert').allTextContents();
  expect(alerts).toEqual([]);
  expect(await status().getAttribute('data-status')).toBe('done');
  return readGeneratedImage(panel());
}

beforeAll(async () => {
  fixture = await openGenerateApp();
  ({ page, problems } = fixture);
}, 90_000);

afterAll(async () => {
  await fixture?.close();
});

describe('Generate panel (built app, Chromium, local Hub)', () => {
  let base: Uint8ClampedArray;

  it('loads the tiny SD1.5 fixture and generates a base image with live step progress', async () => {
    await loadTinyModel(page);
    // The worker runs the networks on WebGPU (SwiftShader here) unless the run asks for wasm.
    expect(await panel().getByLabel('Model status').textContent()).toMatch(
      E2E_BACKEND === 'wasm' ? /\bwasm\)/ : /\bwebgpu\)/,
    );
    await fillGenerateFields(page, { steps: 3 });
    base = await generateImage();
    expect(base.length).toBe(16 * 16 * 4);
    expect(await panel().getByLabel('Generation progress').getAttribute('data-steps-done')).toBe('3');
    await screenshot(page, 'generate-1-base');
  }, 180_000);

  it('a LoRA measurably changes the image at the same seed', async () => {
    await page.getByRole('button', { name: 'Add LoRA…' }).click();
    const d = page.getByRole('dialog');
    await d.getByLabel('LoRA repository').fill(LORA_REPO);
    await d.getByRole('button', { name: 'List LoRA files' }).click();
    await d.getByRole('button', { name: `Add ${ADAPTER}.safetensors` }).click({ timeout: 60_000 });
    await d.waitFor({ state: 'detached', timeout: 60_000 });
    const withLora = await generateImage();
    const diff = meanAbsDiff(base, withLora);
    expect(diff).toBeGreaterThan(MIN_LORA_DIFF);
    await screenshot(page, 'generate-2-lora');
  }, 180_000);

  it('the LoRA scheduled to 0 at every step gives exactly the base image', async () => {
    const row = page.getByRole('listitem', { name: ADAPTER, exact: true });
    await row.getByRole('button', { name: `${ADAPTER} schedule`, exact: true }).click();
    await page.getByLabel(`${ADAPTER} schedule (loractl)`).fill('0@0,0@1');
    const zero = await generateImage();
    expect(meanAbsDiff(base, zero)).toBe(0);
  }, 180_000);

  it('Cancel stops a 20-step run within one step and says so', async () => {
    await panel().getByLabel('Steps', { exact: true }).fill('20');
    await panel().getByRole('button', { name: 'Generate', exact: true }).click();
    const progress = panel().getByLabel('Generation progress');
    await expect
      .poll(async () => Number(await progress.getAttribute('data-steps-done')), { timeout: 60_000 })
      .toBeGreaterThanOrEqual(1);
    await panel().getByRole('button', { name: 'Cancel' }).click();
    await expect.poll(() => status().getAttribute('data-status'), { timeout: 60_000 }).toBe('cancelled');
    const text = (await status().textContent()) ?? '';
    const m = /^Cancelled after step (\d+) of 20 \(cancel pressed at step (\d+)\)$/.exec(text);
    expect(m, text).not.toBeNull();
    const done = Number(m![1]);
    const pressedAt = Number(m![2]);
    expect(pressedAt).toBeGreaterThanOrEqual(1);
    expect(done).toBeLessThanOrEqual(pressedAt + 1);
    expect(done).toBeLessThan(20);
    expect(await progress.getAttribute('data-steps-done')).toBe(String(done));
    expect(await page.getByRole('alert').count()).toBe(0);
    expect(problems).toEqual([]);
    await screenshot(page, 'generate-3-cancelled');
  }, 120_000);
});
