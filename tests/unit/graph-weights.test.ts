/**
 * Every weight of a built graph is a graph input named by its diffusers / transformers state-dict
 * key, with the parameter's shape. Tiny models: the graph's weights equal the safetensors files'
 * keys and shapes EXACTLY (the VAE decoder graph: the file's `decoder.*` and `post_quant_conv.*`
 * keys). Real SD1.5, SD2.1 and SDXL configs: the graph's weights equal the module inventory's
 * full parameter list (the inventory itself is checked against real files in config-inventory).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseClipTextConfig } from '../../src/core/graph/config/clip-config.ts';
import { clipTextInventory } from '../../src/core/graph/config/clip-inventory.ts';
import { parseUNetConfig } from '../../src/core/graph/config/unet-config.ts';
import { unetInventory } from '../../src/core/graph/config/unet-inventory.ts';
import { parseVaeConfig } from '../../src/core/graph/config/vae-config.ts';
import { vaeInventory } from '../../src/core/graph/config/vae-inventory.ts';
import type { GraphDef } from '../../src/core/graph/dsl/builder.ts';
import { buildClipTextGraph } from '../../src/core/graph/nets/clip.ts';
import { buildUNetGraph } from '../../src/core/graph/nets/unet.ts';
import { buildVaeDecoderGraph } from '../../src/core/graph/nets/vae.ts';
import { readSafetensors } from '../../src/core/io/safetensors.ts';

const FIX = 'tests/fixtures';

function json(path: string): unknown {
  return JSON.parse(readFileSync(`${FIX}/${path}`, 'utf8'));
}

function fileShapes(path: string): Map<string, number[]> {
  const f = readSafetensors(new Uint8Array(readFileSync(`${FIX}/${path}`)), path);
  return new Map(f.names().map((n) => [n, f.info(n).shape]));
}

function graphShapes(def: GraphDef): Map<string, number[]> {
  return new Map(def.weights.map((w) => [w.name, [...w.shape]]));
}

function expectSame(got: Map<string, number[]>, want: Map<string, number[]>): void {
  const missing = [...want.keys()].filter((k) => !got.has(k));
  const extra = [...got.keys()].filter((k) => !want.has(k));
  expect({ missing, extra }).toEqual({ missing: [], extra: [] });
  for (const [k, shape] of want) expect([k, got.get(k)]).toEqual([k, shape]);
}

describe.each(['tiny-sd15', 'tiny-sdxl'])('%s: graph weights equal the weight files', (model) => {
  it('unet', () => {
    const def = buildUNetGraph(parseUNetConfig(json(`models/${model}/unet/config.json`)));
    expectSame(graphShapes(def), fileShapes(`models/${model}/unet/diffusion_pytorch_model.safetensors`));
  });

  it('text encoders', () => {
    for (const te of model === 'tiny-sdxl' ? ['text_encoder', 'text_encoder_2'] : ['text_encoder']) {
      const def = buildClipTextGraph(parseClipTextConfig(json(`models/${model}/${te}/config.json`)));
      expectSame(graphShapes(def), fileShapes(`models/${model}/${te}/model.safetensors`));
    }
  });

  it('vae decoder: exactly the decoder and post_quant_conv keys', () => {
    const def = buildVaeDecoderGraph(parseVaeConfig(json(`models/${model}/vae/config.json`)));
    const all = fileShapes(`models/${model}/vae/diffusion_pytorch_model.safetensors`);
    const decoder = new Map(
      [...all].filter(([k]) => k.startsWith('decoder.') || k.startsWith('post_quant_conv.')),
    );
    expect(decoder.size).toBeGreaterThan(0);
    expectSame(graphShapes(def), decoder);
  });
});

describe.each(['sd15', 'sd2', 'sdxl'])('real %s config: graph weights equal the module inventory', (base) => {
  it('unet', () => {
    const cfg = parseUNetConfig(json(`configs/${base}/unet/config.json`));
    expectSame(graphShapes(buildUNetGraph(cfg)), unetInventory(cfg).parameterShapes());
  });

  it('text encoders', () => {
    const tes = base === 'sdxl' ? ['text_encoder', 'text_encoder_2'] : ['text_encoder'];
    for (const te of tes) {
      const cfg = parseClipTextConfig(json(`configs/${base}/${te}/config.json`));
      expectSame(graphShapes(buildClipTextGraph(cfg)), clipTextInventory(cfg).parameterShapes());
    }
  });
});

/** stabilityai/sd-vae-ft-mse's config (the SD1.x/SD2.x VAE; SDXL's differs only in scaling_factor). */
const SD_VAE_CONFIG = {
  _class_name: 'AutoencoderKL',
  act_fn: 'silu',
  block_out_channels: [128, 256, 512, 512],
  down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D'],
  in_channels: 3,
  latent_channels: 4,
  layers_per_block: 2,
  norm_num_groups: 32,
  out_channels: 3,
  sample_size: 256,
  up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D'],
};

describe('real SD VAE config', () => {
  it('decoder graph weights equal the inventory decoder and post_quant_conv parameters', () => {
    const cfg = parseVaeConfig(SD_VAE_CONFIG);
    const all = vaeInventory(cfg).parameterShapes();
    const decoder = new Map(
      [...all].filter(([k]) => k.startsWith('decoder.') || k.startsWith('post_quant_conv.')),
    );
    expect(decoder.get('decoder.up_blocks.3.resnets.0.conv_shortcut.weight')).toEqual([128, 256, 1, 1]);
    expectSame(graphShapes(buildVaeDecoderGraph(cfg)), decoder);
  });
});
