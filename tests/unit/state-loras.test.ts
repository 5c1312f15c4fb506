/**
 * The LoRA slice (weights, schedules, block weights, hotswap bookkeeping) and the LoRA flows of
 * state/actions.ts against a scripted fake engine.
 */
import { describe, expect, it } from 'vitest';
import type { LoraDownloadProgress, LoraFileSource, LoraSummary } from '../../src/api.ts';
import { LorafuseError } from '../../src/errors.ts';
import { createActions } from '../../src/state/actions.ts';
import {
  effectiveAdapterValues,
  type LoraEntry,
  modulesOutside,
  scaleValues,
  selectAdapterSettings,
  uniformBlockWeights,
  uniqueAdapterName,
} from '../../src/state/slices/loras.ts';
import { createAppStore } from '../../src/state/store.ts';
import { fakeEngine, memoryStorage } from './state-test-helpers.ts';

const SD15_BLOCKS = { down: [0, 1, 2], mid: true, up: [1, 2, 3] };

function summary(name: string, moduleIds: string[], extra: Partial<LoraSummary> = {}): LoraSummary {
  return {
    name,
    file: `${name}.safetensors`,
    byteSize: 100,
    keys: moduleIds.length * 2,
    dtypes: ['F32'],
    formats: [{ format: 'kohya', modules: moduleIds.length }],
    kinds: ['lora'],
    ranks: [4],
    alphas: [2],
    dora: false,
    components: [{ component: 'unet', modules: moduleIds.length, ranks: [4], alphas: [2] }],
    moduleIds,
    unmapped: [],
    base: { name: 'sd15 (built-in configs)', assumed: true },
    unetBlocks: SD15_BLOCKS,
    metadata: {},
    ...extra,
  };
}

const entry = (adapterName: string, patch: Partial<LoraEntry> = {}): LoraEntry => ({
  adapterName,
  source: { repo: 'a/b', weightName: `${adapterName}.safetensors` },
  weight: 1,
  enabled: true,
  ...patch,
});

const close = (a: number[], b: number[]) => {
  expect(a).toHaveLength(b.length);
  a.forEach((v, i) => {
    expect(v, `step ${i}`).toBeCloseTo(b[i]!, 12);
  });
};

describe('loras slice', () => {
  it('names adapters uniquely from the file stem', () => {
    const loras = [entry('style'), entry('style_2')];
    expect(uniqueAdapterName(loras, 'style')).toBe('style_3');
    expect(uniqueAdapterName(loras, 'other')).toBe('other');
    expect(uniqueAdapterName([], '  ')).toBe('lora');
  });

  it('sets and clears schedules and block weights, refusing bad values by name', () => {
    const store = createAppStore(memoryStorage());
    const s = () => store.getState();
    s().addLora(entry('a'));
    s().setLoraSchedule('a', [
      [0, 0],
      [0.5, 1],
    ]);
    expect(s().loras[0]?.schedule).toEqual([
      [0, 0],
      [0.5, 1],
    ]);
    s().setLoraSchedule('a', undefined);
    expect('schedule' in s().loras[0]!).toBe(false);
    expect(() => s().setLoraSchedule('a', [[0, Number.NaN]])).toThrow(/Schedule of "a"/);
    const blocks = uniformBlockWeights(SD15_BLOCKS, { down: 0, mid: 0, up: 1 });
    expect(blocks).toEqual({
      down: { block_0: 0, block_1: 0, block_2: 0 },
      mid: 0,
      up: { block_1: 1, block_2: 1, block_3: 1 },
    });
    s().setLoraBlockWeights('a', blocks);
    expect(s().loras[0]?.blockWeights).toEqual(blocks);
    expect(() => s().setLoraBlockWeights('a', { ...blocks, mid: Number.POSITIVE_INFINITY })).toThrow(/mid/);
    expect(() => s().setLoraWeightRange({ min: 1, max: 1 })).toThrow(/min < max/);
    s().setLoraWeightRange({ min: -1, max: 3 });
    expect(s().loraWeightRange).toEqual({ min: -1, max: 3 });
    expect(() => s().setLoraScale(Number.NaN)).toThrow(LorafuseError);
  });

  it('keeps weight, schedule and toggle on replace; block weights only for the same block layout', () => {
    const store = createAppStore(memoryStorage());
    const s = () => store.getState();
    const blocks = uniformBlockWeights(SD15_BLOCKS, { down: 1, mid: 0, up: 0 });
    s().addLora(
      entry('a', {
        weight: 0.7,
        enabled: false,
        schedule: 0.5,
        blockWeights: blocks,
        summary: summary('old', ['unet.x']),
      }),
    );
    s().replaceLoraFile('a', { url: 'https://x/new.safetensors' }, summary('new', ['unet.x']));
    expect(s().loras[0]).toMatchObject({
      weight: 0.7,
      enabled: false,
      schedule: 0.5,
      blockWeights: blocks,
      source: { url: 'https://x/new.safetensors' },
    });
    const sdxl = summary('xl', ['unet.x'], { unetBlocks: { down: [1, 2], mid: true, up: [0, 1] } });
    s().replaceLoraFile('a', { fileName: 'xl.safetensors', size: 1 }, sdxl);
    expect(s().loras[0]?.blockWeights).toBeUndefined();
    expect(s().loras[0]?.summary?.name).toBe('xl');
  });

  it('computes effective per-step values as scale x scale schedule x weight x schedule', () => {
    // 5 steps sit at fractions 0, .25, .5, .75, 1. `0@0,1@0.5` is 0, .5, 1, 1, 1 there;
    // `1@0,0@1` (ramp down) is 1, .75, .5, .25, 0; so with scale 2 and weight 0.5 the adapter runs
    // at 2 x (1, .75, .5, .25, 0) x 0.5 x (0, .5, 1, 1, 1) = (0, .375, .5, .25, 0).
    const s = {
      loraScale: 2,
      loraScaleSchedule: [
        [0, 1],
        [1, 0],
      ] as const,
    };
    close(scaleValues(s, 5), [2, 1.5, 1, 0.5, 0]);
    const a = entry('a', {
      weight: 0.5,
      schedule: [
        [0, 0],
        [0.5, 1],
      ],
    });
    close(effectiveAdapterValues(s, a, 5), [0, 0.375, 0.5, 0.25, 0]);
    close(effectiveAdapterValues(s, { ...a, enabled: false }, 5), [0, 0, 0, 0, 0]);
    close(
      effectiveAdapterValues({ loraScale: 1, loraScaleSchedule: 1 }, entry('c', { weight: -1.5 }), 3),
      [-1.5, -1.5, -1.5],
    );
  });

  it('describes what setAdapters will get: enabled adapters, block multipliers times the weight', () => {
    const blocks = uniformBlockWeights(SD15_BLOCKS, { down: 0, mid: 0.5, up: 1 });
    const settings = selectAdapterSettings({
      loras: [
        entry('a', { weight: 0.8, schedule: 0.5 }),
        entry('b', { weight: 2, blockWeights: blocks }),
        entry('off', { enabled: false }),
      ],
      loraScale: 0.9,
      loraScaleSchedule: 1,
    });
    expect(settings).toEqual({
      adapterNames: ['a', 'b'],
      adapterWeights: [
        0.8,
        {
          unet: {
            down: { block_0: 0, block_1: 0, block_2: 0 },
            mid: 1,
            up: { block_1: 2, block_2: 2, block_3: 2 },
          },
          text_encoder: 2,
          text_encoder_2: 2,
        },
      ],
      schedules: { a: 0.5 },
      scale: 0.9,
      scaleSchedule: 1,
    });
  });

  it('names the modules a hotswap would add', () => {
    expect(modulesOutside(summary('a', ['unet.x', 'unet.y']), summary('b', ['unet.y']))).toEqual([]);
    expect(modulesOutside(summary('a', ['unet.x']), summary('b', ['unet.x', 'text_encoder.z']))).toEqual([
      'text_encoder.z',
    ]);
  });
});

describe('LoRA flows', () => {
  it('adds a repo LoRA with progress, a unique name and weight 1', async () => {
    const store = createAppStore(memoryStorage());
    const seen: (object | null)[] = [];
    store.subscribe((s, prev) => {
      if (s.loraTask !== prev.loraTask) seen.push(s.loraTask);
    });
    const engine = fakeEngine({
      inspectLora: async (_src: LoraFileSource, onProgress?: (p: LoraDownloadProgress) => void) => {
        onProgress?.({ loaded: 50, total: 100, file: 'o/r/style.safetensors' });
        return summary('style', ['unet.m']);
      },
    });
    const actions = createActions(store, engine);
    store.getState().addLora(entry('style'));
    const name = await actions.addLora({ repo: 'o/r', weightName: 'style.safetensors' });
    expect(name).toBe('style_2');
    expect(store.getState().loras[1]).toMatchObject({
      adapterName: 'style_2',
      weight: 1,
      enabled: true,
      source: { repo: 'o/r', weightName: 'style.safetensors' },
    });
    expect(seen).toEqual([
      { file: 'o/r/style.safetensors', loaded: 0, total: 0 },
      { file: 'o/r/style.safetensors', loaded: 50, total: 100 },
      null,
    ]);
    expect(engine.calls.map((c) => c.method)).toEqual(['setHubOptions', 'inspectLora']);
    expect(store.getState().error).toBeNull();
  });

  it('sends a dropped file as bytes and keeps only its name and size', async () => {
    const store = createAppStore(memoryStorage());
    let got: LoraFileSource | undefined;
    const engine = fakeEngine({
      inspectLora: async (src) => {
        got = src;
        return summary('mine', ['unet.m']);
      },
    });
    const file = new File([new Uint8Array([1, 2, 3])], 'mine.safetensors');
    expect(await createActions(store, engine).addLora({ file }, { adapterName: ' chosen ' })).toBe('chosen');
    expect(got && 'bytes' in got ? [...got.bytes] : null).toEqual([1, 2, 3]);
    expect(got && 'name' in got ? got.name : null).toBe('mine.safetensors');
    expect(store.getState().loras[0]?.source).toEqual({ fileName: 'mine.safetensors', size: 3 });
  });

  it('shows engine errors, clears the task and adds nothing', async () => {
    const store = createAppStore(memoryStorage());
    const engine = fakeEngine({
      inspectLora: () =>
        Promise.reject(new LorafuseError('hub-not-found', "Repository 'o/none' was not found")),
    });
    expect(
      await createActions(store, engine).addLora({ repo: 'o/none', weightName: 'x.safetensors' }),
    ).toBeNull();
    expect(store.getState().error).toMatchObject({ code: 'hub-not-found' });
    expect(store.getState().loraTask).toBeNull();
    expect(store.getState().loras).toEqual([]);
  });

  it('refuses a file none of whose keys maps to a module, naming the first key', async () => {
    const store = createAppStore(memoryStorage());
    const engine = fakeEngine({
      inspectLora: async () =>
        summary('odd', [], { unmapped: [{ key: 'foo.bar', reason: 'not a LoRA key' }] }),
    });
    expect(await createActions(store, engine).addLora({ url: 'https://x/odd.safetensors' })).toBeNull();
    expect(store.getState().error?.code).toBe('lora-unmapped-keys');
    expect(store.getState().error?.message).toContain("'foo.bar'");
  });

  it('replaces a file (hotswap) only when the new one touches the same modules or fewer', async () => {
    const store = createAppStore(memoryStorage());
    let next = summary('b', ['unet.x', 'unet.extra']);
    const engine = fakeEngine({ inspectLora: async () => next });
    const actions = createActions(store, engine);
    store.getState().addLora(entry('a', { weight: 0.3, summary: summary('a', ['unet.x', 'unet.y']) }));
    expect(await actions.replaceLora('a', { repo: 'o/b', weightName: 'b.safetensors' })).toBe(false);
    expect(store.getState().error?.message).toContain('unet.extra');
    expect(store.getState().loras[0]?.summary?.name).toBe('a');
    next = summary('b', ['unet.y']);
    expect(await actions.replaceLora('a', { repo: 'o/b', weightName: 'b.safetensors' })).toBe(true);
    expect(store.getState().loras[0]).toMatchObject({
      adapterName: 'a',
      weight: 0.3,
      summary: { name: 'b' },
    });
    expect(store.getState().error).toBeNull();
  });

  it('lists and searches through the engine, showing failures', async () => {
    const store = createAppStore(memoryStorage());
    const engine = fakeEngine({
      listLoraFiles: async () => [{ path: 'a.safetensors', size: 3, type: 'file' }],
      searchLoras: () => Promise.reject(new LorafuseError('hub-network', 'down')),
    });
    const actions = createActions(store, engine);
    expect(await actions.listLoraFiles(' o/r ', ' v1 ')).toEqual([
      { path: 'a.safetensors', size: 3, type: 'file' },
    ]);
    expect(engine.calls.at(-1)).toEqual({
      method: 'listLoraFiles',
      repo: 'o/r',
      options: { revision: 'v1' },
    });
    expect(await actions.listLoraFiles('  ')).toBeNull();
    expect(store.getState().error?.code).toBe('hub-invalid-repo');
    expect(await actions.searchLoras({ baseModel: 'x/y' })).toBeNull();
    expect(store.getState().error?.code).toBe('hub-network');
  });
});
