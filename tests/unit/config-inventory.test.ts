/**
 * The inventory computed from config.json alone must reproduce EXACTLY the parameter names and
 * shapes of the tiny fixture models' safetensors (written by diffusers/transformers).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseClipTextConfig } from '../../src/core/graph/config/clip-config.ts';
import { clipTextInventory } from '../../src/core/graph/config/clip-inventory.ts';
import type { ComponentInventory } from '../../src/core/graph/config/inventory.ts';
import { parseUNetConfig } from '../../src/core/graph/config/unet-config.ts';
import { unetInventory } from '../../src/core/graph/config/unet-inventory.ts';
import { parseVaeConfig } from '../../src/core/graph/config/vae-config.ts';
import { vaeInventory } from '../../src/core/graph/config/vae-inventory.ts';
import { readSafetensors } from '../../src/core/io/safetensors.ts';

const FIX = 'tests/fixtures/models';

function json(path: string): unknown {
  return JSON.parse(readFileSync(path, 'utf8'));
}

function fileShapes(path: string): Map<string, number[]> {
  const f = readSafetensors(new Uint8Array(readFileSync(path)), path);
  return new Map(f.names().map((n) => [n, f.info(n).shape]));
}

function expectSameParams(inv: ComponentInventory, weights: string): void {
  const want = fileShapes(weights);
  const got = inv.parameterShapes();
  const missing = [...want.keys()].filter((k) => !got.has(k));
  const extra = [...got.keys()].filter((k) => !want.has(k));
  expect({ missing, extra }).toEqual({ missing: [], extra: [] });
  for (const [k, shape] of want) expect([k, got.get(k)]).toEqual([k, shape]);
}

describe.each(['tiny-sd15', 'tiny-sdxl'])('inventory of %s equals its weight files', (model) => {
  it('unet', () => {
    const cfg = parseUNetConfig(json(`${FIX}/${model}/unet/config.json`));
    expectSameParams(unetInventory(cfg), `${FIX}/${model}/unet/diffusion_pytorch_model.safetensors`);
  });
  it('vae', () => {
    const cfg = parseVaeConfig(json(`${FIX}/${model}/vae/config.json`));
    expectSameParams(vaeInventory(cfg), `${FIX}/${model}/vae/diffusion_pytorch_model.safetensors`);
  });
  it('text encoders', () => {
    for (const te of model === 'tiny-sdxl' ? ['text_encoder', 'text_encoder_2'] : ['text_encoder']) {
      const cfg = parseClipTextConfig(json(`${FIX}/${model}/${te}/config.json`));
      expectSameParams(clipTextInventory(cfg), `${FIX}/${model}/${te}/model.safetensors`);
    }
  });
});
