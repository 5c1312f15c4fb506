/**
 * The engine's adapter operations between generations (core/engine/adapter-ops.ts), in Node on the
 * wasm backend against the local Hub and the tiny SD1.5 fixture: fuse keeps the adapter fused
 * across requests and unfuse gives the earlier images back bit-for-bit; a hotswap gives the image
 * of a fresh load; a TIES merge is usable in generation and saves as PEFT safetensors; a merged
 * adapter left out of a request is loaded back from its bytes.
 *
 * Oracles: images of the same request on paths that must agree (fresh load vs hotswap, before
 * fuse vs after unfuse); the base image differs from any LoRA image by far more than nothing.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineApi, EngineGenerateRequest, GenerateAdapter } from '../../src/api.ts';
import { createEngine } from '../../src/core/engine/engine.ts';
import { readSafetensors } from '../../src/core/io/safetensors.ts';
import { LorafuseError } from '../../src/errors.ts';
import { type HubServer, startHubServer } from '../hub-server.ts';

let hub: HubServer;
let engine: EngineApi;
const files: Record<'kohya' | 'script' | 'rank2', string> = { kohya: '', script: '', rank2: '' };
/** The image without adapters. */
let base: Uint8ClampedArray;

beforeAll(async () => {
  hub = await startHubServer();
  engine = createEngine({ gpu: undefined, hubCache: undefined, storage: undefined });
  await engine.setHubOptions({ hubUrl: hub.url });
  await engine.loadModel({ repo: 'fixtures/tiny-sd15' });
  files.kohya = (
    await engine.inspectLora({ repo: 'fixtures/sd15-kohya', weightName: 'sd15-kohya.safetensors' })
  ).file;
  files.script = (
    await engine.inspectLora({
      repo: 'fixtures/sd15-diffusers-trainscript',
      weightName: 'pytorch_lora_weights.safetensors',
    })
  ).file;
  files.rank2 = (
    await engine.inspectLora({ repo: 'fixtures/sd15-rank2', weightName: 'pytorch_lora_weights.safetensors' })
  ).file;
  base = await image([]);
}, 120_000);

afterAll(async () => {
  await hub?.close();
});

const request = (adapters: GenerateAdapter[]): EngineGenerateRequest => ({
  prompt: 'a photo of a cat',
  negativePrompt: '',
  steps: 2,
  guidanceScale: 5,
  seed: 7,
  width: 64,
  height: 64,
  adapters,
  scale: 1,
});

async function image(adapters: GenerateAdapter[]): Promise<Uint8ClampedArray> {
  return (await engine.generate(request(adapters))).image.rgba;
}

function meanAbsDiff(a: Uint8ClampedArray, b: Uint8ClampedArray): number {
  expect(a.length).toBe(b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

async function rejection(p: Promise<unknown>): Promise<LorafuseError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof LorafuseError) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

const TINY_UNET = fileURLToPath(
  new URL('../fixtures/models/tiny-sd15/unet/diffusion_pytorch_model.safetensors', import.meta.url),
);

/** Names of the tensors whose bytes differ between two safetensors files (same names required). */
function changedTensors(a: Uint8Array, b: Uint8Array): string[] {
  const fa = readSafetensors(a, 'a');
  const fb = readSafetensors(b, 'b');
  expect(fa.names().sort()).toEqual(fb.names().sort());
  return fa.names().filter((n) => {
    const x = fa.raw(n);
    const y = fb.raw(n);
    return x.length !== y.length || x.some((v, i) => v !== y[i]);
  });
}

/** A LoRA at weight 1 moves the 0-255 pixels of this tiny model by several levels on average. */
const MIN_LORA_DIFF = 1;

describe('engine adapter operations (Node, wasm, tiny SD1.5)', () => {
  let live: Uint8ClampedArray;
  const style = (weight = 0.8): GenerateAdapter => ({ adapterName: 'style', file: files.kohya, weight });

  it('fuse keeps the adapter fused across requests; unfuse gives the earlier images back bit-for-bit', async () => {
    live = await image([style()]);
    expect(meanAbsDiff(base, live)).toBeGreaterThan(MIN_LORA_DIFF);

    expect(await engine.fuseLora({ adapters: [style()], loraScale: 1 })).toEqual(['style']);
    // Left out of the request, or named in it at another weight: the fused delta is what runs.
    const fusedOmitted = await image([]);
    const fusedNamed = await image([style(-2)]);
    expect(fusedNamed).toEqual(fusedOmitted);
    // W0 + c dW folded into the base vs applied live: the same sum; float32 rounding of the
    // order of 1e-7 relative may flip an 8-bit level, no more.
    expect(meanAbsDiff(fusedOmitted, live)).toBeLessThan(0.05);

    const again = await rejection(engine.fuseLora({ adapters: [style()], loraScale: 1 }));
    expect(again.code).toBe('invalid-argument');
    expect(again.message).toMatch(/"style" already fused; unfuse first/);
    expect((await rejection(engine.deleteAdapters(['style']))).message).toMatch(/fused; unfuse first/);

    // Exported while fused: the fixture's UNet with the attention projections the LoRA touches changed.
    const pristine = new Uint8Array(readFileSync(TINY_UNET));
    const fusedUnet = await engine.exportFusedWeights('unet');
    expect(fusedUnet.fileName).toBe('unet.fused.safetensors');
    const changed = changedTensors(pristine, fusedUnet.bytes);
    expect(changed.length).toBeGreaterThan(0);
    expect(
      changed.every((n) =>
        /\.(to_q|to_k|to_v|to_out\.0|proj_in|proj_out|ff\.net\.[02](\.proj)?)\.weight$/.test(n),
      ),
    ).toBe(true);

    await engine.unfuseLora();
    expect(await image([style()])).toEqual(live);
    expect(await image([])).toEqual(base);
    // After unfuse: the fixture's own bytes for every tensor.
    expect(changedTensors(pristine, (await engine.exportFusedWeights('unet')).bytes)).toEqual([]);
  }, 120_000);

  it('fuse at loraScale 0.5 and weight 1.6 runs like the live adapter at 0.8', async () => {
    await engine.fuseLora({ adapters: [style(1.6)], loraScale: 0.5 });
    expect(meanAbsDiff(await image([]), live)).toBeLessThan(0.05);
    await engine.unfuseLora();
    expect(await image([])).toEqual(base);
  }, 120_000);

  it('a file swapped under the same name (hotswap) runs like the file loaded fresh', async () => {
    const swapped = (async () => {
      await image([{ adapterName: 'slot', file: files.kohya, weight: 1 }]);
      return image([{ adapterName: 'slot', file: files.rank2, weight: 1 }]);
    })();
    const hot = await swapped;
    const fresh = await image([{ adapterName: 'fresh', file: files.rank2, weight: 1 }]);
    expect(hot).toEqual(fresh);
    expect(meanAbsDiff(hot, base)).toBeGreaterThan(0);
  }, 120_000);

  it('merges two adapters with TIES, generates with the result, saves it as PEFT safetensors', async () => {
    const merged = await engine.addWeightedAdapter({
      adapters: [
        { adapterName: 'a', file: files.kohya },
        { adapterName: 'b', file: files.script },
      ],
      weights: [1, 0.5],
      adapterName: 'tied',
      combinationType: 'ties',
      density: 0.5,
      majoritySignMethod: 'total',
    });
    expect(merged.summary.name).toBe('tied');
    expect(merged.summary.formats[0]?.format).toBe('peft');
    const withMerged = await image([{ adapterName: 'tied', file: merged.summary.file, weight: 1 }]);
    expect(meanAbsDiff(withMerged, base)).toBeGreaterThan(MIN_LORA_DIFF);

    // Left out (so deleted in the manager), then named again: loaded back from its bytes.
    await image([]);
    expect(await image([{ adapterName: 'tied', file: merged.summary.file, weight: 1 }])).toEqual(withMerged);

    const saved = await engine.saveLoraAdapter({ adapterName: 'tied', file: merged.summary.file });
    expect(saved.fileName).toBe('tied.safetensors');
    expect(saved.bytes).toEqual(merged.bytes);
    const st = readSafetensors(saved.bytes, saved.fileName);
    const names = st.names();
    expect(names.length).toBeGreaterThan(0);
    expect(names.every((n) => /^(unet|text_encoder)\..+\.lora_[AB]\.weight$/.test(n))).toBe(true);
    // TIES keeps the union of both adapters' modules (kohya: 48 UNet modules, a superset).
    expect(names.filter((n) => n.startsWith('unet.') && n.endsWith('lora_A.weight')).length).toBe(48);

    const kohya = await engine.saveLoraAdapter({ adapterName: 'tied', file: merged.summary.file }, 'kohya');
    expect(
      readSafetensors(kohya.bytes, 'k')
        .names()
        .some((n) => n.startsWith('lora_unet_')),
    ).toBe(true);

    const taken = await rejection(
      engine.addWeightedAdapter({
        adapters: [{ adapterName: 'a', file: files.kohya }],
        weights: [1],
        adapterName: 'tied',
        combinationType: 'linear',
      }),
    );
    expect(taken.message).toMatch(/"tied" is in use/);
  }, 120_000);
});
