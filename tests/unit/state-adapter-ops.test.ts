/**
 * The app's fuse / unfuse / merge / save / delete flows, the engine restart, the "next Generate
 * applies it" state, the Model panel's suggestions and the cache grouping, against a fake engine
 * that records what it is asked.
 */
import { describe, expect, it } from 'vitest';
import type { EngineApi, EngineGenerateRequest, LoraSummary, MergeRequest } from '../../src/api.ts';
import { groupCachedFiles } from '../../src/core/engine/engine.ts';
import { LorafuseError } from '../../src/errors.ts';
import { backendFromSearch, createActions, selectAdaptersChangedSinceRun } from '../../src/state/actions.ts';
import type { LoraEntry } from '../../src/state/slices/loras.ts';
import { createAppStore } from '../../src/state/store.ts';
import { FIXTURE_BASES, SUGGESTED_BASES, suggestedBases } from '../../src/state/suggested-bases.ts';
import { fakeEngine, memoryStorage } from './state-test-helpers.ts';

const summary = (file: string) =>
  ({
    file,
    name: file.replace(/\.safetensors$/, ''),
    moduleIds: ['unet.m'],
    unmapped: [],
  }) as unknown as LoraSummary;
const entry = (adapterName: string, patch: Partial<LoraEntry> = {}): LoraEntry => ({
  adapterName,
  source: { repo: `o/${adapterName}`, weightName: `${adapterName}.safetensors` },
  weight: 1,
  enabled: true,
  summary: summary(`o/${adapterName}/${adapterName}.safetensors`),
  ...patch,
});

const image = (req: EngineGenerateRequest) => ({
  image: { width: req.width, height: req.height, rgba: new Uint8ClampedArray(req.width * req.height * 4) },
  params: { ...req, scheduler: req.scheduler ?? ('euler' as const) },
  seconds: 0,
});

function setup(more: NonNullable<Parameters<typeof fakeEngine>[0]>['more'] = {}) {
  const store = createAppStore(memoryStorage());
  const requests: EngineGenerateRequest[] = [];
  const engine = fakeEngine({
    more: {
      generate: async (req) => {
        requests.push(req);
        return image(req);
      },
      ...more,
    },
  });
  const actions = createActions(store, engine);
  store.getState().setGenerationParams({ numInferenceSteps: 2, width: 8, height: 8 });
  return { store, engine, actions, requests };
}

describe('fuse and unfuse', () => {
  it('fuses the named adapters at their weights and the scale; later requests leave them out until unfuse', async () => {
    const { store, engine, actions, requests } = setup({
      fuseLora: async (r) => r.adapters.map((a) => a.adapterName),
      unfuseLora: async () => {},
    });
    store.getState().addLora(
      entry('a', {
        weight: 0.7,
        schedule: [
          [0, 1],
          [1, 0],
        ],
      }),
    );
    store.getState().addLora(entry('b', { weight: 0.3 }));
    store.getState().setLoraScale(0.5);

    expect(await actions.fuseLoras(['a'])).toBe(true);
    const fuseCall = engine.calls.find((c) => c.method === 'fuseLora');
    // The schedule is not part of a fuse: weight and scale only.
    expect(fuseCall && 'args' in fuseCall ? fuseCall.args[0] : null).toEqual({
      adapters: [{ adapterName: 'a', file: 'o/a/a.safetensors', weight: 0.7 }],
      loraScale: 0.5,
    });
    expect(store.getState().fusedLoras).toEqual([{ adapterName: 'a', weight: 0.7, loraScale: 0.5 }]);

    await actions.generate();
    expect(requests.at(-1)!.adapters.map((a) => a.adapterName)).toEqual(['b']);

    await actions.removeLora('a');
    expect(store.getState().error?.message).toMatch(/"a" is fused into the model; press Unfuse/);
    expect(store.getState().loras.map((l) => l.adapterName)).toEqual(['a', 'b']);

    expect(await actions.unfuseLoras()).toBe(true);
    expect(store.getState().fusedLoras).toEqual([]);
    await actions.generate();
    expect(requests.at(-1)!.adapters.map((a) => a.adapterName)).toEqual(['a', 'b']);
  });

  it('shows the engine refusal and keeps the fused list as it was', async () => {
    const { store, actions } = setup({
      fuseLora: async () => {
        throw new LorafuseError('invalid-argument', 'fuseLora: "a" already fused; unfuse first.');
      },
    });
    store.getState().addLora(entry('a'));
    expect(await actions.fuseLoras(['a'])).toBe(false);
    expect(store.getState().error?.message).toMatch(/already fused/);
    expect(store.getState().fusedLoras).toEqual([]);
  });

  it('a model load forgets what was fused (the engine drops the old model)', async () => {
    const { store, actions } = setup({
      fuseLora: async (r) => r.adapters.map((a) => a.adapterName),
      loadModel: async (ref) => ({
        repo: ref.repo,
        family: 'sd',
        width: 64,
        height: 64,
        sizeMultiple: 8,
        backend: 'wasm',
      }),
    });
    store.getState().addLora(entry('a'));
    await actions.fuseLoras(['a']);
    store.getState().setModelRepo('o/model');
    await actions.loadModel();
    expect(store.getState().fusedLoras).toEqual([]);
  });
});

describe('merge, save and delete', () => {
  it('merges panel adapters by their files and adds the result as an enabled LoRA', async () => {
    const merged = summary('merged/1/tied.safetensors');
    let asked: MergeRequest | undefined;
    const { store, actions } = setup({
      addWeightedAdapter: async (r) => {
        asked = r;
        return { summary: merged, bytes: new Uint8Array([1, 2, 3]) };
      },
    });
    store.getState().addLora(entry('a'));
    store.getState().addLora(entry('b'));
    const name = await actions.mergeLoras({
      adapters: ['a', 'b'],
      weights: [1, 0.5],
      adapterName: ' tied ',
      combinationType: 'ties',
      density: 0.5,
      majoritySignMethod: 'total',
    });
    expect(name).toBe('tied');
    expect(asked).toEqual({
      adapters: [
        { adapterName: 'a', file: 'o/a/a.safetensors' },
        { adapterName: 'b', file: 'o/b/b.safetensors' },
      ],
      weights: [1, 0.5],
      adapterName: 'tied',
      combinationType: 'ties',
      density: 0.5,
      majoritySignMethod: 'total',
    });
    const row = store.getState().loras.find((l) => l.adapterName === 'tied');
    expect(row).toEqual({
      adapterName: 'tied',
      source: { merged: { from: ['a', 'b'], method: 'ties' } },
      weight: 1,
      enabled: true,
      summary: merged,
    });
  });

  it('refuses a merged name the panel uses, before asking the engine', async () => {
    const { store, engine, actions } = setup();
    store.getState().addLora(entry('a'));
    store.getState().addLora(entry('b'));
    expect(
      await actions.mergeLoras({
        adapters: ['a', 'b'],
        weights: [1, 1],
        adapterName: 'a',
        combinationType: 'cat',
      }),
    ).toBeNull();
    expect(store.getState().error?.message).toMatch(/"a" is already in use/);
    expect(engine.calls.some((c) => c.method === 'addWeightedAdapter')).toBe(false);
  });

  it('saves by name and file in the chosen format; deleting tells the engine, then the panel', async () => {
    const { store, engine, actions } = setup({
      saveLoraAdapter: async (ref, format) => ({
        fileName: `${ref.adapterName}.safetensors`,
        bytes: new Uint8Array([format === 'kohya' ? 2 : 1]),
      }),
    });
    store.getState().addLora(entry('a'));
    const saved = await actions.saveLora('a', 'kohya');
    expect(saved).toEqual({ fileName: 'a.safetensors', bytes: new Uint8Array([2]) });
    await actions.removeLora('a');
    expect(
      engine.calls.filter((c) => c.method === 'deleteAdapters').map((c) => ('args' in c ? c.args : [])),
    ).toEqual([[['a']]]);
    expect(store.getState().loras).toEqual([]);
  });
});

describe('the next Generate applies changed adapter settings', () => {
  it('is false before any image, true after a weight moves, false again after the next image', async () => {
    const { store, actions } = setup();
    store.getState().addLora(entry('a'));
    expect(selectAdaptersChangedSinceRun(store.getState())).toBe(false);
    await actions.generate();
    expect(selectAdaptersChangedSinceRun(store.getState())).toBe(false);
    store.getState().setLoraWeight('a', 0.4);
    expect(selectAdaptersChangedSinceRun(store.getState())).toBe(true);
    store.getState().setLoraWeight('a', 1);
    expect(selectAdaptersChangedSinceRun(store.getState())).toBe(false);
    store.getState().setLoraEnabled('a', false);
    expect(selectAdaptersChangedSinceRun(store.getState())).toBe(true);
    await actions.generate();
    expect(selectAdaptersChangedSinceRun(store.getState())).toBe(false);
    store.getState().setLoraScale(0.5);
    // No adapter enabled: the scale changes nothing the engine runs, but the request's scale differs.
    expect(selectAdaptersChangedSinceRun(store.getState())).toBe(true);
  });
});

describe('engine restart', () => {
  it('marks the engine lost on engine-lost and device-lost errors, not on others', () => {
    const store = createAppStore(memoryStorage());
    store.getState().showError(new LorafuseError('hub-network', 'offline'));
    expect(store.getState().engineLost).toBeNull();
    store.getState().showError(new LorafuseError('device-lost', 'GPU gone'));
    expect(store.getState().engineLost?.code).toBe('device-lost');
  });

  it('a lost GPU device restarts the engine by itself, once a minute at most', async () => {
    const store = createAppStore(memoryStorage());
    let report: ((e: ReturnType<LorafuseError['toJSON']>) => void) | undefined;
    const watching = {
      watchDeviceLost: async (cb: (e: ReturnType<LorafuseError['toJSON']>) => void) => {
        report = cb;
      },
    };
    const engines = [
      fakeEngine({ more: watching }),
      fakeEngine({ more: watching }),
      fakeEngine({ more: watching }),
    ];
    let made = 0;
    const actions = createActions(store, engines[0] as EngineApi, {
      restartEngine: () => engines[++made] as EngineApi,
    });
    await actions.start('');
    const lost = new LorafuseError('device-lost', 'The GPU device was lost (unknown).');
    report!(lost.toJSON());
    await expect.poll(() => store.getState().engineRestart).toBe('idle');
    expect(made).toBe(1);
    expect(store.getState().engineLost).toBeNull();
    // Lost again at once: no second automatic restart; the banner offers the button.
    report!(lost.toJSON());
    await Promise.resolve();
    expect(made).toBe(1);
    expect(store.getState().engineLost?.code).toBe('device-lost');
  });

  it('starts a new engine, reads the LoRAs again (a dropped file from the kept bytes) and reloads the model', async () => {
    const store = createAppStore(memoryStorage());
    const first = fakeEngine({
      inspectLora: async (source) => summary('bytes' in source ? source.name : 'x'),
      more: {
        loadModel: async (ref) => ({
          repo: ref.repo,
          family: 'sd',
          width: 8,
          height: 8,
          sizeMultiple: 8,
          backend: 'wasm',
        }),
        fuseLora: async (r) => r.adapters.map((a) => a.adapterName),
      },
    });
    const inspected: unknown[] = [];
    const loaded: unknown[] = [];
    const second = fakeEngine({
      inspectLora: async (source) => {
        inspected.push('bytes' in source ? { name: source.name, bytes: [...source.bytes] } : source);
        return summary('x');
      },
      more: {
        loadModel: async (ref) => {
          loaded.push(ref);
          return { repo: ref.repo, family: 'sd', width: 8, height: 8, sizeMultiple: 8, backend: 'wasm' };
        },
      },
    });
    const actions = createActions(store, first, { restartEngine: () => second as EngineApi });
    store.getState().setModelRepo('o/model');
    await actions.loadModel();
    const file = Object.assign(new Blob([new Uint8Array([9, 8])]), { name: 'mine.safetensors' });
    await actions.addLora({ file });
    store.getState().addLora(entry('hub'));
    await actions.fuseLoras(['hub']);
    store.getState().showError(new LorafuseError('engine-lost', 'The engine stopped.'));
    store.getState().setModelRepo('o/typed-but-not-loaded');

    expect(await actions.restartEngine()).toBe(true);
    expect(inspected).toEqual([
      { name: 'mine.safetensors', bytes: [9, 8] },
      { repo: 'o/hub', weightName: 'hub.safetensors' },
    ]);
    expect(loaded).toEqual([{ repo: 'o/model', backend: 'auto' }]);
    const s = store.getState();
    expect(s.engineLost).toBeNull();
    expect(s.error).toBeNull();
    expect(s.fusedLoras).toEqual([]);
    expect(s.engineRestart).toBe('idle');
    expect(s.modelLoad.status).toBe('loaded');
    expect(s.loras.map((l) => l.adapterName)).toEqual(['mine', 'hub']);
  });
});

describe('Model panel data', () => {
  it('suggests the real bases everywhere and the fixtures only off huggingface.co', () => {
    expect(suggestedBases('https://huggingface.co')).toEqual(SUGGESTED_BASES);
    expect(suggestedBases('http://127.0.0.1:4000')).toEqual([...SUGGESTED_BASES, ...FIXTURE_BASES]);
    expect(SUGGESTED_BASES.map((b) => b.repo)).toContain('stabilityai/stable-diffusion-xl-base-1.0');
  });

  it('groups cached files by repo with bytes, file count and commits (most files first), largest first', () => {
    expect(
      groupCachedFiles([
        { repo: 'a', commit: 'c1', path: 'x', size: 10 },
        { repo: 'b', commit: 'c9', path: 'y', size: 100 },
        { repo: 'a', commit: 'c2', path: 'x', size: 11 },
        { repo: 'a', commit: 'c2', path: 'z', size: 1 },
      ]),
    ).toEqual([
      { repo: 'b', bytes: 100, files: 1, commits: ['c9'] },
      { repo: 'a', bytes: 22, files: 3, commits: ['c2', 'c1'] },
    ]);
  });

  it('reads ?backend= and refuses an unknown one', () => {
    expect(backendFromSearch('?hub=x&backend=wasm')).toBe('wasm');
    expect(backendFromSearch('')).toBeNull();
    expect(() => backendFromSearch('?backend=cuda')).toThrow(/auto, webgpu or wasm; got 'cuda'/);
  });
});
