/**
 * Prompt LoRA tags applied to the panel's adapters (prompt-adapters.ts), the infotext of a run and
 * the restore plan back (gallery-params.ts), and the generate -> gallery PNG -> restore flow of
 * the actions with a fake engine. Expected values are written from the rules in those modules'
 * headers (tag sets the weight, untagged adapters keep the panel's), not from their output.
 */
import { describe, expect, it } from 'vitest';
import type { EngineGenerateRequest, LoraSummary } from '../../src/api.ts';
import { readPngParameters } from '../../src/core/image/png-chunks.ts';
import { encodePng } from '../../src/core/image/png-encode.ts';
import { parseGenerationParams } from '../../src/core/pipeline/generation-params.ts';
import { createActions } from '../../src/state/actions.ts';
import { restorePlan, runInfotext } from '../../src/state/gallery-params.ts';
import { applyPromptLoras } from '../../src/state/prompt-adapters.ts';
import type { LoraEntry } from '../../src/state/slices/loras.ts';
import { createAppStore } from '../../src/state/store.ts';
import { fakeEngine, memoryStorage } from './state-test-helpers.ts';

const summary = (file: string) => ({ file }) as LoraSummary;
const entry = (adapterName: string, patch: Partial<LoraEntry> = {}): LoraEntry => ({
  adapterName,
  source: { url: `https://example.test/${adapterName}.safetensors` },
  weight: 1,
  enabled: true,
  summary: summary(`${adapterName}.safetensors`),
  ...patch,
});

describe('applyPromptLoras', () => {
  it('a tag sets the weight of the adapter it names, enables it, and is cut from the prompt', () => {
    const loras = [entry('style', { weight: 0.8, enabled: false }), entry('char', { weight: 0.3 })];
    const r = applyPromptLoras('a cat, <lora:style:0.5> in a hat', loras);
    expect(r.prompt).toBe('a cat, in a hat');
    expect(r.loras.map((l) => [l.adapterName, l.weight, l.enabled])).toEqual([
      ['style', 0.5, true],
      ['char', 0.3, true],
    ]);
    // the panel's entries are not changed
    expect(loras[0]!.weight).toBe(0.8);
    expect(loras[0]!.enabled).toBe(false);
  });

  it('a keyframe weight runs at weight 1 with the tag schedule in place of the panel one', () => {
    const r = applyPromptLoras('<lora:style:0@0,1@1> x', [entry('style', { weight: 2, schedule: 0.5 })]);
    expect(r.prompt).toBe('x');
    expect(r.loras[0]!.weight).toBe(1);
    expect(r.loras[0]!.schedule).toEqual([
      [0, 0],
      [1, 1],
    ]);
  });

  it('a numeric tag keeps the panel schedule', () => {
    const r = applyPromptLoras('<lora:style:0.25>', [
      entry('style', { schedule: [[0, 1] as const, [1, 0] as const] }),
    ]);
    expect(r.loras[0]!.schedule).toEqual([
      [0, 1],
      [1, 0],
    ]);
  });

  it('a tag naming no loaded adapter is an invalid-argument error naming it and the loaded ones', () => {
    expect(() => applyPromptLoras('x <lora:nope:1>', [entry('style')])).toThrow(
      expect.objectContaining({
        code: 'invalid-argument',
        message: expect.stringMatching(/"nope".*"style"/),
      }),
    );
    expect(() => applyPromptLoras('x <lora:nope:1>', [])).toThrow(/none is loaded/);
  });

  it('refuses separate te/unet weights and other extra networks', () => {
    expect(() => applyPromptLoras('<lora:style:0.5:1>', [entry('style')])).toThrow(/one weight for both/);
    expect(() => applyPromptLoras('<hypernet:h:1>', [entry('style')])).toThrow(/only <lora:...> tags/);
  });

  it('without tags the prompt and adapters pass unchanged', () => {
    const loras = [entry('a', { weight: 0.7 })];
    const r = applyPromptLoras('plain prompt', loras);
    expect(r.prompt).toBe('plain prompt');
    expect(r.loras).toEqual(loras);
  });
});

describe('runInfotext and restorePlan', () => {
  const base = {
    negativePrompt: 'blurry',
    steps: 3,
    guidanceScale: 7.5,
    seed: 42,
    width: 64,
    height: 64,
    scheduler: 'dpmpp-2m-karras' as const,
    model: 'fixtures/tiny-sd15',
    loraScale: 1,
    loraScaleSchedule: 1,
  };

  it('writes the typed prompt, settings and untagged adapters as weight x schedule', () => {
    const typed = 'a cat <lora:style:0.5>';
    const applied = applyPromptLoras(typed, [
      entry('style'),
      entry('char', { weight: 0.5, schedule: [[0, 1] as const, [1, 0] as const] }),
      entry('off', { enabled: false }),
    ]);
    const text = runInfotext({ ...base, prompt: typed, loras: applied.loras, tags: applied.tags });
    expect(text.split('\n')[0]).toBe(typed);
    expect(text).toContain('Negative prompt: blurry');
    const p = parseGenerationParams(text);
    expect(p).toMatchObject({
      prompt: typed,
      steps: 3,
      cfgScale: 7.5,
      seed: 42,
      width: 64,
      height: 64,
      scheduler: 'dpmpp-2m-karras',
      model: 'fixtures/tiny-sd15',
    });
    expect(p.adapterSchedules).toEqual({
      char: [
        [0, 0.5],
        [1, 0],
      ],
    });
    expect(p.scaleSchedule).toBeUndefined();
  });

  it('restores generation fields, untagged weights, tagged toggles and notes what is missing', () => {
    const text = runInfotext({
      ...base,
      prompt: 'a cat <lora:style:0.5> <lora:gone:1>',
      loras: [entry('style'), entry('char', { weight: 0.75 }), entry('gone')],
      tags: applyPromptLoras('<lora:style:0.5> <lora:gone:1>', [entry('style'), entry('gone')]).tags,
      loraScale: 0.5,
    });
    const loaded = [entry('style', { enabled: false }), entry('char', { enabled: false })];
    const plan = restorePlan(parseGenerationParams(text), loaded);
    expect(plan.generation).toEqual({
      prompt: 'a cat <lora:style:0.5> <lora:gone:1>',
      negativePrompt: 'blurry',
      numInferenceSteps: 3,
      guidanceScale: 7.5,
      seed: 42,
      width: 64,
      height: 64,
      scheduler: 'dpmpp-2m-karras',
    });
    expect(plan.loras).toEqual([
      { adapterName: 'char', enabled: true, weight: 0.75, schedule: null },
      { adapterName: 'style', enabled: true },
    ]);
    expect(plan.scale).toEqual({ scale: 0.5, schedule: 1 });
    expect(plan.notes).toEqual(['LoRA(s) not loaded: "gone"']);
  });

  it('writes what is fused (weight x lora scale) and a restore notes it rather than fusing', () => {
    const text = runInfotext({
      ...base,
      prompt: 'a cat',
      loras: [],
      tags: [],
      fused: [
        { adapterName: 'style', weight: 0.5, loraScale: 0.8 },
        { adapterName: 'char', weight: 1, loraScale: 1 },
      ],
    });
    expect(text).toContain('Lorafuse fused: style=0.4; char=1');
    const parsed = parseGenerationParams(text);
    expect(parsed.fusedAdapters).toEqual({ style: 0.4, char: 1 });
    expect(parsed.extra).toBeUndefined();
    expect(restorePlan(parsed, []).notes).toEqual([
      'fused into the model for this image: "style" at 0.4, "char" at 1; fuse them again to reproduce it',
    ]);
    expect(runInfotext({ ...base, prompt: 'a cat', loras: [], tags: [], fused: [] })).not.toContain('fused');
  });

  it('notes an A1111 sampler lorafuse does not have', () => {
    const plan = restorePlan(
      parseGenerationParams(
        'x\nSteps: 20, Sampler: Heun, Schedule type: Karras, CFG scale: 7, Seed: 1, Size: 512x512',
      ),
      [],
    );
    expect(plan.generation.scheduler).toBeUndefined();
    expect(plan.notes).toEqual(["sampler 'Heun Karras' has no lorafuse scheduler"]);
  });
});

describe('actions: generate with tags -> gallery PNG -> restore', () => {
  const setup = () => {
    const store = createAppStore(memoryStorage());
    const requests: EngineGenerateRequest[] = [];
    const engine = {
      ...fakeEngine(),
      generate: async (req: EngineGenerateRequest) => {
        requests.push(req);
        const rgba = new Uint8ClampedArray(req.width * req.height * 4).fill(200);
        return {
          image: { width: req.width, height: req.height, rgba },
          params: { ...req, scheduler: req.scheduler ?? ('euler' as const) },
          seconds: 0.1,
        };
      },
    };
    const actions = createActions(store, engine);
    store.getState().addLora(entry('style', { weight: 0.9 }));
    store.getState().setGenerationParams({
      prompt: 'a cat <lora:style:0.5>',
      numInferenceSteps: 2,
      seed: 7,
      width: 16,
      height: 8,
    });
    return { store, actions, requests };
  };

  it('sends the cleaned prompt and the tag weight, and keeps a PNG with the parameters chunk', async () => {
    const { store, actions, requests } = setup();
    await actions.generate();
    expect(store.getState().error).toBeNull();
    expect(requests[0]!.prompt).toBe('a cat');
    expect(requests[0]!.adapters.map((a) => [a.adapterName, a.weight])).toEqual([['style', 0.5]]);
    const [img] = store.getState().gallery;
    expect(img).toBeDefined();
    const png = new Uint8Array(await (await fetch(img!.url)).arrayBuffer());
    const text = await readPngParameters(png);
    expect(text).toBe(img!.infotext);
    expect(parseGenerationParams(text!)).toMatchObject({
      prompt: 'a cat <lora:style:0.5>',
      seed: 7,
      steps: 2,
    });
  });

  it('an unknown tag fails the run with an alert naming it and sends nothing', async () => {
    const { store, actions, requests } = setup();
    store.getState().setGenerationParams({ prompt: 'a cat <lora:missing:1>' });
    await actions.generate();
    expect(requests).toEqual([]);
    expect(store.getState().run.status).toBe('error');
    expect(store.getState().error).toMatchObject({
      code: 'invalid-argument',
      message: expect.stringContaining('names LoRA "missing"'),
    });
    expect(store.getState().gallery).toEqual([]);
  });

  it('restoreFromPng sets the panel from a PNG, and refuses a PNG without parameters', async () => {
    const { store, actions } = setup();
    const text =
      'a dog <lora:style:0.25>\nNegative prompt: ugly\nSteps: 5, Sampler: Euler a, Schedule type: Automatic, CFG scale: 4, Seed: 99, Size: 32x24';
    const png = await encodePng(new Uint8Array(4 * 4 * 4), 4, 4, { text: [{ keyword: 'parameters', text }] });
    const file = Object.assign(new Blob([png as Uint8Array<ArrayBuffer>]), { name: 'a.png' });
    expect(await actions.restoreFromPng(file)).toBe(true);
    expect(store.getState().error).toBeNull();
    expect(store.getState().loras[0]!.weight).toBe(0.9);
    expect(store.getState().generation).toEqual({
      prompt: 'a dog <lora:style:0.25>',
      negativePrompt: 'ugly',
      numInferenceSteps: 5,
      guidanceScale: 4,
      seed: 99,
      width: 32,
      height: 24,
      scheduler: 'euler-a',
    });
    const bare = await encodePng(new Uint8Array(4 * 4 * 4), 4, 4);
    const bareFile = Object.assign(new Blob([bare as Uint8Array<ArrayBuffer>]), { name: 'bare.png' });
    expect(await actions.restoreFromPng(bareFile)).toBe(false);
    expect(store.getState().error?.message).toContain("bare.png has no 'parameters' text chunk");
  });
});
