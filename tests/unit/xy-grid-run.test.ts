/**
 * The X/Y plot flow against a fake engine whose image encodes the request (R = seed, G = adapter
 * weight x 100, B = steps): every cell goes through the Generate action with its own values, the
 * sheet puts cell (row, column) where the layout says, its PNG carries the first cell's infotext
 * plus the axes, the settings come back afterwards, and Cancel / a failing cell stop the run.
 */
import { describe, expect, it } from 'vitest';
import type { EngineApi, EngineGenerateRequest, LoraSummary } from '../../src/api.ts';
import type { GridLayout, RgbaImage } from '../../src/core/image/grid.ts';
import { readPngParameters } from '../../src/core/image/png-chunks.ts';
import { parseGenerationParams } from '../../src/core/pipeline/generation-params.ts';
import { LorafuseError } from '../../src/errors.ts';
import { createActions } from '../../src/state/actions.ts';
import { createAppStore } from '../../src/state/store.ts';
import { cancelXyGrid, runXyGrid, type SheetLabeler, type SheetLabels } from '../../src/state/xy-grid-run.ts';
import { decodePng } from './png-helpers.ts';
import { fakeEngine, memoryStorage } from './state-test-helpers.ts';

const summary = (name: string): LoraSummary => ({
  name,
  file: `${name}.safetensors`,
  byteSize: 100,
  keys: 2,
  dtypes: ['F32'],
  formats: [{ format: 'kohya', modules: 1 }],
  kinds: ['lora'],
  ranks: [4],
  alphas: [4],
  dora: false,
  components: [{ component: 'unet', modules: 1, ranks: [4], alphas: [4] }],
  moduleIds: ['unet:m'],
  unmapped: [],
  base: { name: 'sd15', assumed: true },
  unetBlocks: null,
  metadata: {},
});

/** Records the labels and strips it was given; draws nothing. */
function stubLabeler(): SheetLabeler & { seen: SheetLabels[]; layouts: GridLayout[] } {
  const seen: SheetLabels[] = [];
  const layouts: GridLayout[] = [];
  return {
    seen,
    layouts,
    measure: () => ({ columnLabelHeight: 10, rowLabelWidth: 20 }),
    draw: (sheet: RgbaImage, layout: GridLayout, labels: SheetLabels) => {
      seen.push(labels);
      layouts.push(layout);
      return sheet;
    },
  };
}

function setup(
  options: { failAt?: number; onGenerate?: (i: number, engine: EngineApi) => Promise<void> | void } = {},
) {
  const store = createAppStore(memoryStorage());
  const requests: EngineGenerateRequest[] = [];
  let cancelled = false;
  const engine: EngineApi = {
    ...fakeEngine(),
    generate: async (req) => {
      const i = requests.push(req) - 1;
      cancelled = false;
      await options.onGenerate?.(i, engine);
      if (cancelled) throw new LorafuseError('cancelled', 'Generation cancelled.');
      if (i === options.failAt) throw new LorafuseError('out-of-memory', 'no memory for cell');
      const found = req.adapters.find((a) => a.adapterName === 'style')?.weight;
      const w = typeof found === 'number' ? found : -1;
      const rgba = new Uint8ClampedArray(req.width * req.height * 4);
      for (let p = 0; p < rgba.length; p += 4) rgba.set([req.seed, Math.round(w * 100), req.steps, 255], p);
      return {
        image: { width: req.width, height: req.height, rgba },
        params: { ...req, scheduler: req.scheduler ?? 'euler' },
        seconds: 0.01,
      };
    },
    cancel: async () => {
      cancelled = true;
    },
  };
  const actions = createActions(store, engine);
  const s = store.getState();
  s.addLora({
    adapterName: 'style',
    source: { repo: 'a/style', weightName: 'style.safetensors' },
    weight: 0.7,
    enabled: false,
    summary: summary('style'),
  });
  s.setGenerationParams({ prompt: 'a cat', numInferenceSteps: 3, seed: 42, width: 8, height: 16 });
  s.setXyAxis('x', { kind: 'lora-weight', adapterName: 'style', values: '0, 0.5, 1' });
  s.setXyAxis('y', { kind: 'seed', values: '1-2' });
  return { store, actions, requests };
}

async function pngOf(url: string): Promise<Uint8Array> {
  return new Uint8Array(await (await fetch(url)).arrayBuffer());
}

describe('runXyGrid', () => {
  it('generates every cell row-major through Generate and lays each where the sheet says', async () => {
    const { store, actions, requests } = setup();
    const labeler = stubLabeler();
    await runXyGrid(store, actions, labeler);
    const s = store.getState();
    expect(s.error).toBeNull();
    expect(s.xyRun).toMatchObject({ status: 'done', cell: 6, cells: 6 });
    expect(requests.map((r) => [r.adapters.find((a) => a.adapterName === 'style')?.weight, r.seed])).toEqual([
      [0, 1],
      [0.5, 1],
      [1, 1],
      [0, 2],
      [0.5, 2],
      [1, 2],
    ]);
    expect(labeler.seen).toEqual([
      {
        columns: ['style weight: 0', 'style weight: 0.5', 'style weight: 1'],
        rows: ['Seed: 1', 'Seed: 2'],
        xTitle: 'style weight',
        yTitle: 'Seed',
      },
    ]);

    const result = s.xyRun.result!;
    // 3 columns of 8 px, 2 rows of 16 px, gap 4, row strip 20 + gap, column strip 10 + gap.
    expect([result.width, result.height]).toEqual([24 + 3 * 8 + 2 * 4, 14 + 2 * 16 + 4]);
    const png = decodePng(await pngOf(result.url));
    expect([png.width, png.height]).toEqual([result.width, result.height]);
    result.cells.forEach((c, i) => {
      const row = Math.floor(i / 3);
      const col = i % 3;
      const expected = [row + 1, col * 50, 3, 255];
      for (const [dx, dy] of [
        [0, 0],
        [c.width - 1, c.height - 1],
      ]) {
        const at = ((c.y + dy!) * png.width + c.x + dx!) * 4;
        expect(Array.from(png.rgba.subarray(at, at + 4)), `cell ${i}`).toEqual(expected);
      }
      expect([c.width, c.height]).toEqual([8, 16]);
    });
    // Background (white) in the corner strip.
    expect(Array.from(png.rgba.subarray(0, 4))).toEqual([255, 255, 255, 255]);

    const text = await readPngParameters(await pngOf(result.url));
    expect(text).toBe(result.infotext);
    const p = parseGenerationParams(text!);
    expect(p).toMatchObject({ prompt: 'a cat', seed: 1, steps: 3 });
    expect(p.extra).toMatchObject({
      Script: 'X/Y plot',
      'X Type': 'style weight',
      'X Values': '0, 0.5, 1',
      'Y Type': 'Seed',
      'Y Values': '1, 2',
    });
  });

  it('leaves only the sheet in the gallery (or every cell too) and puts the settings back', async () => {
    const { store, actions } = setup();
    await runXyGrid(store, actions, stubLabeler());
    let s = store.getState();
    expect(s.gallery.map((g) => g.fileName)).toEqual(['lorafuse-xy-001.png']);
    expect(s.gallery[0]!.url).toBe(s.xyRun.result!.url);
    expect(s.generation.seed).toBe(42);
    expect(s.loras[0]).toMatchObject({ adapterName: 'style', weight: 0.7, enabled: false });

    s.setXyKeepCells(true);
    await runXyGrid(store, actions, stubLabeler());
    s = store.getState();
    expect(s.gallery).toHaveLength(1 + 6 + 1);
    expect(s.gallery[0]!.fileName).toBe('lorafuse-xy-002.png');
    expect(new Set(s.gallery.map((g) => g.id)).size).toBe(8);
  });

  it('Prompt S/R and steps: each cell gets its prompt and steps, the prompt comes back as typed', async () => {
    const { store, actions, requests } = setup();
    store.getState().setXyAxis('x', { kind: 'prompt-sr', values: 'cat, dog' });
    store.getState().setXyAxis('y', { kind: 'steps', values: '2, 4' });
    await runXyGrid(store, actions, stubLabeler());
    expect(requests.map((r) => [r.prompt, r.steps])).toEqual([
      ['a cat', 2],
      ['a dog', 2],
      ['a cat', 4],
      ['a dog', 4],
    ]);
    expect(store.getState().generation).toMatchObject({ prompt: 'a cat', numInferenceSteps: 3 });
  });

  it('Cancel stops within the running cell, starts no other, and keeps no sheet', async () => {
    const { store, actions, requests } = setup({
      onGenerate: async (i) => {
        if (i === 1) await cancelXyGrid(store, actions);
      },
    });
    await runXyGrid(store, actions, stubLabeler());
    const s = store.getState();
    expect(requests).toHaveLength(2);
    expect(s.xyRun).toMatchObject({ status: 'cancelled', cell: 1, cells: 6, result: null });
    expect(s.gallery).toEqual([]);
    expect(s.error).toBeNull();
    expect(s.loras[0]).toMatchObject({ weight: 0.7, enabled: false });
  });

  it('a failing cell ends the run with the engine error shown, settings restored', async () => {
    const { store, actions, requests } = setup({ failAt: 2 });
    await runXyGrid(store, actions, stubLabeler());
    const s = store.getState();
    expect(requests).toHaveLength(3);
    expect(s.xyRun.status).toBe('error');
    expect(s.error).toMatchObject({ code: 'out-of-memory' });
    expect(s.generation.seed).toBe(42);
    expect(s.gallery).toEqual([]);
  });

  it('refuses a plan it cannot run before generating anything', async () => {
    const { store, actions, requests } = setup();
    store.getState().setXyAxis('x', { kind: 'lora-weight', adapterName: 'gone', values: '1' });
    await runXyGrid(store, actions, stubLabeler());
    expect(requests).toEqual([]);
    expect(store.getState().xyRun.status).toBe('error');
    expect(store.getState().error?.message).toMatch(/adapter "gone", which is not loaded \(loaded: style\)/);
    store.getState().setXyAxis('x', { kind: 'steps', values: '0-1 (+0.5)' });
    await runXyGrid(store, actions, stubLabeler());
    expect(store.getState().error?.message).toMatch(/whole-number step/);
  });
});
