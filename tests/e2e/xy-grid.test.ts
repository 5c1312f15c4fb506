/**
 * X/Y plot in the built app (Chromium, WebGPU on SwiftShader, local Hub): X = the sd15-kohya LoRA's
 * weight {0, 1}, Y = seed {1, 2} on the tiny SD1.5 fixture. The sheet has 4 cells laid out where
 * the page says; the two weight-0 cells differ (different seeds); weight 1 differs from weight 0 at
 * each seed; the last cell is the Generate panel's last image pixel for pixel; the PNG carries the
 * first cell's parameters plus the axes; the panel's settings come back after the run.
 */
import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPngParameters } from '../../src/core/image/png-chunks.ts';
import { parseGenerationParams } from '../../src/core/pipeline/generation-params.ts';
import { decodePng } from '../unit/png-helpers.ts';
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

/**
 * Mean absolute difference (0-255 per channel) that counts as "a different image". Two runs with
 * the same settings are bit-identical on this backend (generate.test.ts asserts 0 for a zero
 * schedule), so any change is the seed's or the adapter's; 1 grey level is far above nothing and
 * far below what a new seed or a rank-4 LoRA at weight 1 does on the tiny model.
 */
const MIN_DIFF = 1;
const SIZE = 16;

let fixture: AppFixture | undefined;
let page: Page;
let problems: PageProblem[];

const generatePanel = (): Locator => page.getByRole('region', { name: 'Generate' });
const xyPanel = (): Locator => page.getByRole('region', { name: 'X/Y plot' });

beforeAll(async () => {
  fixture = await openGenerateApp();
  ({ page, problems } = fixture);
}, 90_000);

afterAll(async () => {
  await fixture?.close();
});

/** Crops one cell (x, y, width, height on the sheet) out of RGBA sheet pixels. */
function crop(rgba: Uint8Array, sheetWidth: number, r: number[]): Uint8ClampedArray {
  const [x, y, w, h] = r as [number, number, number, number];
  const out = new Uint8ClampedArray(w * h * 4);
  for (let row = 0; row < h; row++) {
    const from = ((y + row) * sheetWidth + x) * 4;
    out.set(rgba.subarray(from, from + w * 4), row * w * 4);
  }
  return out;
}

describe('X/Y plot (built app, Chromium, local Hub)', () => {
  it('loads the tiny SD1.5 fixture and the sd15-kohya LoRA', async () => {
    await loadTinyModel(page);
    await fillGenerateFields(page, { steps: 2, size: SIZE });

    await page.getByRole('button', { name: 'Add LoRA…' }).click();
    const d = page.getByRole('dialog');
    await d.getByLabel('LoRA repository').fill(LORA_REPO);
    await d.getByRole('button', { name: 'List LoRA files' }).click();
    await d.getByRole('button', { name: `Add ${ADAPTER}.safetensors` }).click({ timeout: 60_000 });
    await d.waitFor({ state: 'detached', timeout: 60_000 });
  }, 180_000);

  it('runs LoRA weight {0, 1} x seed {1, 2}: 4 cells, then one sheet', async () => {
    const xy = xyPanel();
    await xy.getByLabel('X type').selectOption({ label: `${ADAPTER} weight` });
    await xy.getByLabel('X values').fill('0, 1');
    await xy.getByLabel('Y type').selectOption({ label: 'Seed' });
    await xy.getByLabel('Y values').fill('1, 2');
    await expect.poll(() => xy.getByLabel('X/Y plan').textContent()).toBe('2 x 2 = 4 cells');

    await xy.getByRole('button', { name: 'Run X/Y plot' }).click();
    const status = xy.getByLabel('X/Y status');
    await expect.poll(() => status.textContent(), { timeout: 60_000 }).toMatch(/^Cell [1-4] of 4$/);
    await expect.poll(() => status.getAttribute('data-status'), { timeout: 590_000 }).toMatch(/done|error/);
    expect(await page.getByRole('alert').allTextContents()).toEqual([]);
    expect(await status.textContent()).toBe('Done: 4 cells');
    await screenshot(page, 'xy-grid');
  }, 600_000);

  it('the sheet: cells where the page says, seeds and weights differ, parameters with the axes', async () => {
    const xy = xyPanel();

    const grid = xy.getByRole('img', { name: 'X/Y grid' });
    const cells = ((await grid.getAttribute('data-cells')) ?? '')
      .split(';')
      .map((c) => c.split(',').map(Number));
    expect(cells).toHaveLength(4);
    for (const c of cells) expect(c.slice(2)).toEqual([SIZE, SIZE]);
    const bytes = Uint8Array.from(
      await grid.evaluate(async (img) =>
        Array.from(new Uint8Array(await (await fetch((img as HTMLImageElement).src)).arrayBuffer())),
      ),
    );
    const png = decodePng(bytes);
    // Row-major: [w0 s1, w1 s1, w0 s2, w1 s2]; the cells sit right of the Y labels, below the X labels.
    const [w0s1, w1s1, w0s2, w1s2] = cells.map((c) => crop(png.rgba, png.width, c));
    expect(cells[1]![0]).toBeGreaterThan(cells[0]![0]!);
    expect(cells[2]![1]).toBeGreaterThan(cells[0]![1]!);
    expect(cells[0]![0]).toBeGreaterThan(0);
    expect(cells[0]![1]).toBeGreaterThan(0);

    expect(meanAbsDiff(w0s1!, w0s2!)).toBeGreaterThan(MIN_DIFF);
    expect(meanAbsDiff(w0s1!, w1s1!)).toBeGreaterThan(MIN_DIFF);
    expect(meanAbsDiff(w0s2!, w1s2!)).toBeGreaterThan(MIN_DIFF);
    // The Generate panel shows the last cell it made: the sheet holds it unchanged.
    expect(meanAbsDiff(await readGeneratedImage(generatePanel()), w1s2!)).toBe(0);

    const text = await readPngParameters(bytes, 'the X/Y sheet');
    const params = parseGenerationParams(text ?? '');
    expect(params).toMatchObject({
      prompt: 'a photo of a cat',
      seed: 1,
      steps: 2,
      width: SIZE,
      height: SIZE,
    });
    expect(params.extra).toMatchObject({
      Script: 'X/Y plot',
      'X Type': `${ADAPTER} weight`,
      'X Values': '0, 1',
      'Y Type': 'Seed',
      'Y Values': '1, 2',
    });

    // Only the sheet joins the gallery (cell images are not kept by default), downloadable.
    const gallery = page.getByRole('list', { name: 'Gallery images' });
    await expect.poll(() => gallery.getByRole('listitem').count()).toBe(1);
    const item = gallery.getByRole('listitem', { name: 'lorafuse-xy-001.png' });
    expect(await item.getByRole('link', { name: 'Download PNG' }).getAttribute('download')).toBe(
      'lorafuse-xy-001.png',
    );
    expect(await xy.getByRole('link', { name: 'Download grid PNG' }).getAttribute('download')).toBe(
      'lorafuse-xy-001.png',
    );

    // The settings the plot changed are back.
    expect(await generatePanel().getByLabel('Seed', { exact: true }).inputValue()).toBe('42');
    expect(await page.getByRole('slider', { name: `${ADAPTER} weight`, exact: true }).inputValue()).toBe('1');
    // ORT's own session warning ("Some nodes were not assigned to the preferred execution
    // providers ...") reaches the console as an error line; it is not a problem of this page.
    expect(problems.filter((p) => !/\[W:onnxruntime:/.test(p.text))).toEqual([]);
  }, 60_000);
});
