/**
 * Helpers shared by the e2e tests that generate images in the built app: opening the app against
 * the local Hub, reading the result canvas, and comparing pixels.
 */
import type { Locator, Page } from 'playwright-core';
import { expect } from 'vitest';
import { type AppFixture, startAppFixture } from './app-fixture.ts';

export const MODEL_REPO = 'fixtures/tiny-sd15';
export const LORA_REPO = 'fixtures/sd15-kohya';
export const ADAPTER = 'sd15-kohya';

/**
 * The backend models load on (`?backend=`): env LORAFUSE_E2E_BACKEND (auto, webgpu or wasm),
 * default auto (WebGPU on SwiftShader here).
 */
export const E2E_BACKEND = process.env.LORAFUSE_E2E_BACKEND ?? 'auto';

/** Starts the app fixture and opens the app pointed at the local Hub, ready to generate. */
export async function openGenerateApp(): Promise<AppFixture> {
  const fixture = await startAppFixture('/app/');
  await fixture.page.goto(
    `${fixture.app.url}?hub=${encodeURIComponent(fixture.hub.url)}&backend=${encodeURIComponent(E2E_BACKEND)}`,
  );
  await fixture.page.getByRole('heading', { name: 'Generate', exact: true }).waitFor({ timeout: 60_000 });
  return fixture;
}

/** The RGBA pixels of the Generate panel's result canvas. */
export async function readGeneratedImage(panel: Locator): Promise<Uint8ClampedArray> {
  const canvas = panel.getByRole('img', { name: 'Generated image' });
  await canvas.waitFor({ timeout: 120_000 });
  const data = await canvas.evaluate((c) => {
    const el = c as HTMLCanvasElement;
    return Array.from(el.getContext('2d')!.getImageData(0, 0, el.width, el.height).data);
  });
  return Uint8ClampedArray.from(data);
}

/** Mean absolute difference, 0-255 per channel. */
export function meanAbsDiff(a: Uint8ClampedArray, b: Uint8ClampedArray): number {
  expect(a.length).toBe(b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

/** The Generate region of the app. */
export function generateRegion(page: Page): Locator {
  return page.getByRole('region', { name: 'Generate' });
}

/** Types the tiny fixture repo into the Model panel and loads it; waits until it says Loaded. */
export async function loadTinyModel(page: Page): Promise<void> {
  await page.getByLabel('Model repository').fill(MODEL_REPO);
  await generateRegion(page).getByRole('button', { name: 'Load model' }).click();
  await expect
    .poll(() => generateRegion(page).getByLabel('Model status').textContent(), { timeout: 120_000 })
    .toMatch(/^Loaded fixtures\/tiny-sd15/);
}

/**
 * The Generate panel's prompt, steps, seed and square size. Small on purpose: the app runs on
 * WebGPU on SwiftShader here, about 50x slower than the wasm backend (docs/TESTING.md).
 */
export async function fillGenerateFields(
  page: Page,
  f: { prompt?: string; steps: number; seed?: number; size?: number },
): Promise<void> {
  const field = (name: string) => generateRegion(page).getByLabel(name, { exact: true });
  await field('Prompt').fill(f.prompt ?? 'a photo of a cat');
  await field('Steps').fill(String(f.steps));
  await field('Seed').fill(String(f.seed ?? 42));
  await field('Width').fill(String(f.size ?? 16));
  await field('Height').fill(String(f.size ?? 16));
}
