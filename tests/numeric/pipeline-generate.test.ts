/**
 * `generate()` beyond the reference cases (those are in cases-base.test.ts): cancellation, seeded
 * noise, and Diffusers' guidance rules, each checked by an independent fact rather than a stored
 * output of our own:
 * - an abort after step 1 of 10 stops before step 2's UNet (one onStep call, `cancelled`);
 * - guidance <= 1 runs one unguided row, so a negative prompt cannot change the result;
 *   guidance > 1 with a negative prompt does change it;
 * - SDXL: no negative prompt and '' both give zero negative embeddings (force_zeros_for_empty_prompt);
 * - same seed, same latents (bit-equal); another seed, other latents; RGBA is round(255 * float).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subSource } from '../../src/core/cases/sub-source.ts';
import { LocalFolderSource } from '../../src/core/io/model-source.ts';
import { type GenerateRequest, generate } from '../../src/core/pipeline/generate.ts';
import { type LoadedModel, loadModel } from '../../src/core/pipeline/model.ts';
import { isLorafuseError } from '../../src/errors.ts';
import { FIXTURES, maxAbsDiff } from './graph-fixtures.ts';

const root = new LocalFolderSource(FIXTURES);
let sd15: LoadedModel;
let sdxl: LoadedModel;

beforeAll(async () => {
  sd15 = await loadModel(subSource(root, 'models/tiny-sd15'));
  sdxl = await loadModel(subSource(root, 'models/tiny-sdxl'));
});
afterAll(async () => {
  await sd15?.release();
  await sdxl?.release();
});

const BASE: GenerateRequest = {
  prompt: 'a photo of an astronaut riding a horse on mars',
  steps: 3,
  guidanceScale: 7.5,
  seed: 7,
  width: 16,
  height: 16,
  output: 'latent',
};

describe('cancellation', () => {
  it('an abort after step 1 of a 10-step run stops within one step', async () => {
    const controller = new AbortController();
    const seen: number[] = [];
    const err = await generate(
      sd15,
      { ...BASE, steps: 10, output: 'image' },
      {
        signal: controller.signal,
        onStep: ({ step }) => {
          seen.push(step);
          if (step === 0) controller.abort();
        },
      },
    ).catch((e: unknown) => e);
    expect(isLorafuseError(err) && err.code).toBe('cancelled');
    expect(seen).toEqual([0]);
  });

  it('an already aborted signal runs nothing', async () => {
    const controller = new AbortController();
    controller.abort();
    let steps = 0;
    const err = await generate(sd15, BASE, { signal: controller.signal, onStep: () => void steps++ }).catch(
      (e: unknown) => e,
    );
    expect(isLorafuseError(err) && err.code).toBe('cancelled');
    expect(steps).toBe(0);
  });
});

describe('seeded noise and outputs', () => {
  it('the same seed gives the same latents, another seed other latents', async () => {
    const a = await generate(sd15, BASE);
    const b = await generate(sd15, BASE);
    const c = await generate(sd15, { ...BASE, seed: 8 });
    expect(a.latents).toEqual(b.latents);
    expect(maxAbsDiff(a.latents, c.latents)).toBeGreaterThan(0.1);
    expect(a.image).toBeUndefined();
    expect(a.latentShape).toEqual([1, 4, 8, 8]);
    expect(a.timesteps).toHaveLength(3);
  });

  it('the image is [H, W, 3] in [0, 1] and RGBA is round(255 * value) with alpha 255', async () => {
    const r = await generate(sd15, { ...BASE, output: 'image' });
    const img = r.image!;
    expect([img.width, img.height, img.float.length, img.rgba.length]).toEqual([
      16,
      16,
      16 * 16 * 3,
      16 * 16 * 4,
    ]);
    expect(img.float.every((v) => v >= 0 && v <= 1)).toBe(true);
    for (let p = 0; p < 16 * 16; p++) {
      for (let ch = 0; ch < 3; ch++) {
        expect(Math.abs(img.rgba[p * 4 + ch]! - img.float[p * 3 + ch]! * 255)).toBeLessThanOrEqual(0.5);
      }
      expect(img.rgba[p * 4 + 3]).toBe(255);
    }
  });

  it('refuses a size that is not a multiple of the VAE scale factor, and wrong-sized latents', async () => {
    await expect(generate(sd15, { ...BASE, width: 15 })).rejects.toMatchObject({ code: 'invalid-argument' });
    await expect(generate(sd15, { ...BASE, latents: new Float32Array(10) })).rejects.toMatchObject({
      code: 'invalid-argument',
    });
  });
});

describe('guidance rules', () => {
  it('guidance <= 1 ignores the negative prompt; guidance > 1 uses it', async () => {
    const g1 = await generate(sd15, { ...BASE, guidanceScale: 1 });
    const g1neg = await generate(sd15, { ...BASE, guidanceScale: 1, negativePrompt: 'a blurry photo' });
    expect(g1neg.latents).toEqual(g1.latents);
    const g7 = await generate(sd15, BASE);
    const g7neg = await generate(sd15, { ...BASE, negativePrompt: 'a blurry photo' });
    expect(maxAbsDiff(g7.latents, g7neg.latents)).toBeGreaterThan(1e-3);
  });

  it('SDXL: no negative prompt and an empty one both mean zero negative embeddings', async () => {
    const none = await generate(sdxl, { ...BASE, guidanceScale: 5 });
    const empty = await generate(sdxl, { ...BASE, guidanceScale: 5, negativePrompt: '' });
    const text = await generate(sdxl, { ...BASE, guidanceScale: 5, negativePrompt: 'a blurry photo' });
    expect(empty.latents).toEqual(none.latents);
    expect(maxAbsDiff(none.latents, text.latents)).toBeGreaterThan(1e-3);
    expect(none.promptIds).toHaveLength(2);
  });
});
