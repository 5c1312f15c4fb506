/**
 * The LoRA panel in the built app (Chromium, local Hub): add from a repo listing, by file input
 * and by a dropped file; the facts of each file as tests/fixtures/loras/index.json has them
 * (written by Diffusers/PEFT); weight slider and number box; a loractl schedule plotted per step;
 * keyframes moved by keyboard and by dragging; block weight presets; hotswap; Hub search; errors.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors, writeSafetensors } from '../../src/core/io/safetensors.ts';
import type { HubServer } from '../hub-server.ts';
import { type AppFixture, problemsBut404For, startAppFixture } from './app-fixture.ts';
import { type PageProblem, screenshot } from './browser.ts';
import type { StaticServer } from './static-server.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures', import.meta.url));
const MISSING_REPO = 'fixtures/no-such-lora';

interface IndexComponent {
  num_modules: number;
  ranks: number[];
  alphas: number[];
  modules: Record<string, unknown>;
}
interface IndexEntry {
  file: string;
  components: Record<string, IndexComponent>;
}
const INDEX = JSON.parse(readFileSync(join(FIXTURES, 'loras', 'index.json'), 'utf8')) as Record<
  string,
  IndexEntry
>;

/** "unet (48 modules), text_encoder (12 modules)", in the panel's component order (unet, te, te2). */
function expectedComponents(entry: IndexEntry): string {
  return ['unet', 'text_encoder', 'text_encoder_2']
    .filter((c) => entry.components[c])
    .map((c) => `${c} (${entry.components[c]!.num_modules} modules)`)
    .join(', ');
}

function expectedRanks(entry: IndexEntry): string {
  const ranks = [...new Set(Object.values(entry.components).flatMap((c) => c.ranks))].sort((a, b) => a - b);
  return ranks.join(' / ');
}

/** The kohya fixture plus one key that names no module: the unmapped-keys case. */
const UNKNOWN_KEY = 'lora_unet_not_a_real_block.lora_down.weight';
function fileWithUnknownKey(): Uint8Array {
  const src = readSafetensors(
    new Uint8Array(readFileSync(join(FIXTURES, INDEX['sd15-kohya']!.file))),
    'sd15-kohya.safetensors',
  );
  const tensors = src.names().map((name) => {
    const { dtype, shape } = src.info(name);
    return { name, dtype, shape, data: src.raw(name) };
  });
  return writeSafetensors([
    ...tensors,
    { name: UNKNOWN_KEY, dtype: 'F32', shape: [1, 2], data: new Float32Array([1, 2]) },
  ]);
}

let fixture: AppFixture | undefined;
let hub: HubServer;
let app: StaticServer;
let page: Page;
let problems: PageProblem[];

/** expect.poll with room for a loaded machine (vitest's default is 1 s). */
const poll = <T>(fn: () => Promise<T> | T) => expect.poll(fn, { timeout: 15_000 });
const row = (name: string): Locator => page.getByRole('listitem', { name, exact: true });
const fact = (name: string, key: string): Locator => row(name).locator(`[data-fact="${key}"] dd`);
const dialog = (): Locator => page.getByRole('dialog');

async function openAddDialog(): Promise<Locator> {
  await page.getByRole('button', { name: 'Add LoRA…' }).click();
  await dialog().waitFor();
  return dialog();
}

async function waitGone(locator: Locator): Promise<void> {
  await locator.waitFor({ state: 'detached', timeout: 60_000 });
}

beforeAll(async () => {
  fixture = await startAppFixture('/app/');
  ({ hub, app, page, problems } = fixture);
  await page.goto(`${app.url}?hub=${encodeURIComponent(hub.url)}`);
  await page.getByRole('heading', { name: 'LoRA', exact: true }).waitFor({ timeout: 60_000 });
});

afterAll(async () => {
  await fixture?.close();
});

describe('LoRA panel (built app, Chromium, local Hub)', () => {
  it('adds a LoRA picked from a repo listing and shows format, rank and components as in index.json', async () => {
    const d = await openAddDialog();
    await d.getByLabel('LoRA repository').fill('fixtures/sd15-kohya');
    await d.getByRole('button', { name: 'List LoRA files' }).click();
    const listing = d.getByRole('list', { name: 'LoRA files of fixtures/sd15-kohya' });
    await listing.waitFor({ timeout: 60_000 });
    const size = statSync(join(FIXTURES, INDEX['sd15-kohya']!.file)).size;
    expect(await listing.locator('data').getAttribute('value')).toBe(String(size));
    await screenshot(page, 'lora-panel-1-listing');
    await d.getByRole('button', { name: 'Add sd15-kohya.safetensors' }).click();
    await waitGone(d);

    const entry = INDEX['sd15-kohya']!;
    await row('sd15-kohya').waitFor();
    expect(await fact('sd15-kohya', 'format').textContent()).toBe('kohya');
    expect(await fact('sd15-kohya', 'rank').textContent()).toBe(expectedRanks(entry));
    expect(await fact('sd15-kohya', 'components').textContent()).toBe(expectedComponents(entry));
    const alphas = [...new Set(Object.values(entry.components).flatMap((c) => c.alphas))].sort(
      (a, b) => a - b,
    );
    expect(await fact('sd15-kohya', 'alpha').textContent()).toBe(alphas.join(' / '));
    expect(await row('sd15-kohya').locator('.unmapped').count()).toBe(0);
    expect(await page.getByRole('alert').count()).toBe(0);
    await screenshot(page, 'lora-panel-2-kohya-row');
  });

  it('adds a second LoRA from a local file through the file input', async () => {
    const d = await openAddDialog();
    const entry = INDEX['sd15-peft-metadata']!;
    await d.getByLabel('LoRA file (.safetensors)').setInputFiles(join(FIXTURES, entry.file));
    await waitGone(d);
    const name = 'pytorch_lora_weights';
    await row(name).waitFor();
    expect(await fact(name, 'format').textContent()).toBe('peft');
    expect(await fact(name, 'rank').textContent()).toBe(expectedRanks(entry));
    expect(await fact(name, 'components').textContent()).toBe(expectedComponents(entry));
    expect(await row(name).textContent()).toContain('pytorch_lora_weights.safetensors (local file)');
  });

  it('adds a LoRA from a URL under a unique name', async () => {
    const d = await openAddDialog();
    const entry = INDEX['sd15-rank8']!;
    await d
      .getByLabel('LoRA URL')
      .fill(`${hub.url}/fixtures/sd15-rank8/resolve/main/pytorch_lora_weights.safetensors`);
    await d.getByRole('button', { name: 'Add from URL' }).click();
    await waitGone(d);
    const name = 'pytorch_lora_weights_2';
    await row(name).waitFor();
    expect(await fact(name, 'rank').textContent()).toBe(expectedRanks(entry));
    expect(await fact(name, 'components').textContent()).toBe(expectedComponents(entry));
    await row(name)
      .getByRole('button', { name: `Delete ${name}` })
      .click();
    await waitGone(row(name));
  });

  it('adds a dropped file and lists the key that maps to nothing, with its reason', async () => {
    const d = await openAddDialog();
    const bytes = [...fileWithUnknownKey()];
    const dataTransfer = await page.evaluateHandle((b) => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(b)], 'odd-keys.safetensors'));
      return dt;
    }, bytes);
    const zone = d.getByRole('region', { name: 'Drop a .safetensors file here' });
    await zone.dispatchEvent('dragover', { dataTransfer });
    await zone.dispatchEvent('drop', { dataTransfer });
    await waitGone(d);
    await row('odd-keys').waitFor();
    const unmapped = row('odd-keys').getByRole('list', { name: 'Unmapped keys' });
    expect(await row('odd-keys').locator('.unmapped summary').textContent()).toContain('1 unmapped key');
    const items = await unmapped.getByRole('listitem').allTextContents();
    expect(items).toHaveLength(1);
    expect(items[0]).toContain(UNKNOWN_KEY);
    expect(items[0]).toMatch(/not_a_real_block/);
    // Everything else of the file still maps: the kohya fixture's modules.
    expect(await fact('odd-keys', 'components').textContent()).toBe(expectedComponents(INDEX['sd15-kohya']!));
    await screenshot(page, 'lora-panel-3-unmapped');
    await row('odd-keys').getByRole('button', { name: 'Delete odd-keys' }).click();
    await waitGone(row('odd-keys'));
  });

  it('keeps the weight slider and its number box in step, both ways', async () => {
    const slider = page.getByRole('slider', { name: 'sd15-kohya weight', exact: true });
    const box = page.getByRole('spinbutton', { name: 'sd15-kohya weight value', exact: true });
    expect(await slider.inputValue()).toBe('1');
    expect(await box.inputValue()).toBe('1');
    await slider.focus();
    await page.keyboard.press('End');
    await poll(() => box.inputValue()).toBe('2');
    await page.keyboard.press('Home');
    await poll(() => box.inputValue()).toBe('-2');
    await slider.fill('0.5');
    await poll(() => box.inputValue()).toBe('0.5');
    await box.fill('1.25');
    await poll(() => slider.inputValue()).toBe('1.25');
    // Past the slider's range the box keeps the number and the slider rests at its end.
    await box.fill('3');
    await poll(() => slider.inputValue()).toBe('2');
    await box.fill('1.25');
    await poll(() => slider.inputValue()).toBe('1.25');
  });

  it('plots a loractl schedule per step, edits it by keyboard and by dragging, shows parse errors', async () => {
    await page.getByLabel('Schedule steps', { exact: true }).fill('10');
    await row('sd15-kohya').getByRole('button', { name: 'sd15-kohya schedule', exact: true }).click();
    const editor = page.getByRole('region', { name: 'sd15-kohya schedule editor' });
    const field = editor.getByLabel('sd15-kohya schedule (loractl)');
    await field.fill('0@0,1@0.5');

    // Independent oracle: step i of 10 sits at fraction i/9; keyframes (0, 0) and (0.5, 1) give
    // min(1, (i/9) / 0.5), linear in between and held after the last keyframe.
    const expected = Array.from({ length: 10 }, (_, i) => Math.min(1, i / 9 / 0.5));
    const curve = editor.locator('polyline.schedule-curve');
    const readCurve = async () =>
      ((await curve.getAttribute('points')) ?? '').split(' ').map((p) => p.split(',').map(Number));
    // Before the text lands the curve is the constant 1 (also 10 points): wait for step 1's 0.
    await poll(async () => (await readCurve())[0]?.[1]).toBe(0);
    const points = await readCurve();
    expect(points).toHaveLength(10);
    points.forEach(([x, y], i) => {
      expect(x).toBe(i);
      expect(y).toBeCloseTo(expected[i]!, 3); // the plot rounds to 4 decimals
    });
    // The table shows what runs: scale 1 x weight 1.25 x schedule.
    const cells = await editor
      .getByRole('table', { name: 'sd15-kohya per-step values' })
      .locator('data')
      .evaluateAll((ds) => ds.map((d) => Number(d.getAttribute('value'))));
    expect(cells).toHaveLength(10);
    cells.forEach((v, i) => {
      expect(v).toBeCloseTo(1.25 * expected[i]!, 9);
    });
    await screenshot(page, 'lora-panel-4-schedule');

    // Keyboard: the second keyframe down by one nudge (0.05).
    const second = editor.getByRole('slider', { name: 'sd15-kohya keyframe 2' });
    await second.focus();
    await page.keyboard.press('ArrowDown');
    await poll(() => field.inputValue()).toBe('0@0,0.95@0.5');

    // Pointer: drag the first keyframe above the plot; the weight clamps to the axis top (1).
    const first = editor.getByRole('slider', { name: 'sd15-kohya keyframe 1' });
    const box = await first.boundingBox();
    const plot = await editor.locator('rect.plot-bg').boundingBox();
    if (!box || !plot) throw new Error('no layout for the schedule plot');
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2, plot.y + plot.height / 3, { steps: 4 });
    await page.mouse.move(box.x + box.width / 2, plot.y - 30, { steps: 4 });
    await page.mouse.up();
    await poll(() => first.getAttribute('aria-valuenow')).toBe('1');
    const [firstKey] = (await field.inputValue()).split(',');
    const [, position] = (firstKey ?? '').split('@').map(Number);
    expect(position).toBeLessThan(0.02);

    // A parse error is shown inline and the schedule stays as it was.
    const before = await curve.getAttribute('points');
    await field.fill('1@0,oops');
    await poll(() => field.getAttribute('aria-invalid')).toBe('true');
    expect(await editor.locator('.field-error').textContent()).toContain("'oops' is not weight@position");
    expect(await curve.getAttribute('points')).toBe(before);
    expect(await page.getByRole('alert').count()).toBe(0);

    // A preset replaces it: ramp up is 0 -> 1 over the run, i/9 at step i.
    await editor.getByRole('button', { name: 'Ramp up' }).click();
    await poll(() => field.inputValue()).toBe('0@0,1@1');
    const ramp = await readCurve();
    ramp.forEach(([, y], i) => {
      expect(y).toBeCloseTo(i / 9, 3);
    });
    expect(await field.inputValue()).toBe('0@0,1@1');
  });

  it('sets UNet block weights from a preset', async () => {
    await row('sd15-kohya').getByRole('button', { name: 'sd15-kohya block weights', exact: true }).click();
    const editor = page.getByRole('region', { name: 'sd15-kohya block weights editor' });
    await editor.getByRole('button', { name: 'Style only (up)' }).click();
    // SD1.5's attention blocks: down 0-2, mid, up 1-3 (unet config of the built-in base).
    for (const [name, value] of [
      ['sd15-kohya down block_0', '0'],
      ['sd15-kohya down block_2', '0'],
      ['sd15-kohya mid block', '0'],
      ['sd15-kohya up block_1', '1'],
      ['sd15-kohya up block_3', '1'],
    ] as const) {
      expect(await editor.getByRole('slider', { name, exact: true }).inputValue(), name).toBe(value);
    }
    await editor.getByRole('slider', { name: 'sd15-kohya up blocks', exact: true }).fill('0.5');
    expect(
      await editor.getByRole('slider', { name: 'sd15-kohya up block_2', exact: true }).inputValue(),
    ).toBe('0.5');
    await screenshot(page, 'lora-panel-5-blocks');
  });

  it('a repo that does not exist gives hub-not-found', async () => {
    const d = await openAddDialog();
    await d.getByLabel('LoRA repository').fill(MISSING_REPO);
    await d.getByRole('button', { name: 'List LoRA files' }).click();
    const alert = d.getByRole('alert');
    await alert.waitFor({ timeout: 60_000 });
    const text = await alert.textContent();
    expect(text).toContain('hub-not-found');
    expect(text).toContain(MISSING_REPO);
    await screenshot(page, 'lora-panel-6-not-found');
    await d.getByRole('button', { name: 'Dismiss error' }).click();
    await d.getByRole('button', { name: 'Cancel' }).click();
    await waitGone(d);
  });

  it('finds LoRAs by base model and hotswaps a file, keeping the weight', async () => {
    await page.getByLabel('Base model', { exact: true }).fill('fixtures/tiny-sd15');
    await page.getByLabel('Name contains', { exact: true }).fill('rank2');
    await page.getByRole('button', { name: 'Search LoRAs' }).click();
    const results = page.getByRole('list', { name: 'LoRA search results' });
    await results.waitFor({ timeout: 60_000 });
    expect(await results.locator('.path').allTextContents()).toEqual(['fixtures/sd15-rank2']);

    // The new file's modules must be a subset of the current ones (checked here from index.json).
    const kohya = new Set(Object.keys(INDEX['sd15-kohya']!.components.unet!.modules));
    const rank2 = Object.keys(INDEX['sd15-rank2']!.components.unet!.modules);
    expect(rank2.every((m) => kohya.has(m))).toBe(true);

    await row('sd15-kohya').getByRole('button', { name: 'Replace sd15-kohya with…' }).click();
    const d = dialog();
    await d.getByLabel('LoRA repository').fill('fixtures/sd15-rank2');
    await d.getByRole('button', { name: 'List LoRA files' }).click();
    await d.getByRole('button', { name: 'Use pytorch_lora_weights.safetensors' }).click();
    await waitGone(d);
    await poll(() => fact('sd15-kohya', 'format').textContent()).toBe('peft');
    expect(await fact('sd15-kohya', 'rank').textContent()).toBe(expectedRanks(INDEX['sd15-rank2']!));
    expect(await fact('sd15-kohya', 'components').textContent()).toBe(
      expectedComponents(INDEX['sd15-rank2']!),
    );
    expect(
      await page.getByRole('spinbutton', { name: 'sd15-kohya weight value', exact: true }).inputValue(),
    ).toBe('1.25');
    await screenshot(page, 'lora-panel-7-hotswapped');
  });

  it('logged no console errors other than the failed request for the missing repo', () => {
    expect(problemsBut404For(problems, MISSING_REPO)).toEqual([]);
  });
});
