/**
 * Typed configs of the full-size bases (tests/fixtures/configs) resolved as diffusers resolves
 * them. Expected numbers are public facts about the released models: parameter counts
 * (SD1.5 UNet 859,520,964; SD2.x UNet 865,910,724; SDXL UNet 2,567,463,684; CLIP ViT-L text
 * 123,060,480; OpenCLIP bigG text + projection 694,659,840; SD2's 23-layer OpenCLIP-H text
 * 340,387,840) and well-known weight shapes. Sources: the SD1.5 figure is the output shown in
 * diffusers' own `ModelMixin.num_parameters` docstring; the SD1.5/SD2 tensor count (686) and SD2
 * figure, and the SDXL count (1,680 tensors, 2,567,463,684 parameters), appear in independent
 * public code and training logs that load the released checkpoints.
 */
import { describe, expect, it } from 'vitest';
import { parseClipTextConfig } from '../../src/core/graph/config/clip-config.ts';
import { knownBaseConfigs } from '../../src/core/graph/config/known-bases.ts';
import { parseModelIndex } from '../../src/core/graph/config/model-index.ts';
import { parseUNetConfig } from '../../src/core/graph/config/unet-config.ts';
import { parseVaeConfig } from '../../src/core/graph/config/vae-config.ts';
import type { LoraTarget } from '../../src/core/lora/target.ts';
import { loraTarget } from '../../src/core/lora/target.ts';
import { FIX, readJson, targetFromDir } from './lora-formats-helpers.ts';

function paramCount(t: LoraTarget, comp: 'unet' | 'text_encoder' | 'text_encoder_2'): [number, number] {
  const shapes = t.components[comp]?.inventory.parameterShapes() ?? new Map();
  let n = 0;
  for (const s of shapes.values()) n += s.reduce((a: number, x: number) => a * x, 1);
  return [shapes.size, n];
}

describe('full-size inventories match the released models', () => {
  it.each([
    ['sd15', 'unet', 686, 859_520_964],
    ['sd15', 'text_encoder', 196, 123_060_480],
    ['sd2', 'unet', 686, 865_910_724],
    ['sd2', 'text_encoder', 372, 340_387_840],
    ['sdxl', 'unet', 1680, 2_567_463_684],
    ['sdxl', 'text_encoder', 196, 123_060_480],
    ['sdxl', 'text_encoder_2', 517, 694_659_840],
  ] as const)('%s %s: %i tensors, %i parameters', (base, comp, tensors, params) => {
    expect(paramCount(targetFromDir(`${FIX}/configs/${base}`), comp)).toEqual([tensors, params]);
  });

  it('built-in known bases equal the fixture configs', () => {
    for (const b of ['sd15', 'sd2', 'sdxl'] as const) {
      const builtIn = loraTarget(b, knownBaseConfigs(b));
      const fixture = targetFromDir(`${FIX}/configs/${b}`);
      for (const c of ['unet', 'text_encoder', 'text_encoder_2'] as const) {
        const a = builtIn.components[c]?.inventory.parameterShapes();
        const f = fixture.components[c]?.inventory.parameterShapes();
        expect(a ? [...a] : null).toEqual(f ? [...f] : null);
      }
    }
  });

  it('well-known shapes', () => {
    const get = (b: string, c: 'unet' | 'text_encoder_2', p: string) =>
      targetFromDir(`${FIX}/configs/${b}`).components[c]?.inventory.get(p)?.weight;
    expect(get('sd15', 'unet', 'down_blocks.0.attentions.0.proj_in')).toEqual([320, 320, 1, 1]);
    expect(get('sd2', 'unet', 'down_blocks.0.attentions.0.proj_in')).toEqual([320, 320]);
    expect(get('sd15', 'unet', 'up_blocks.1.resnets.2.conv1')).toEqual([1280, 1920, 3, 3]);
    expect(get('sd15', 'unet', 'up_blocks.3.resnets.0.conv1')).toEqual([320, 960, 3, 3]);
    expect(get('sd15', 'unet', 'down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k')).toEqual([
      320, 768,
    ]);
    expect(get('sdxl', 'unet', 'add_embedding.linear_1')).toEqual([1280, 2816]);
    expect(get('sdxl', 'unet', 'down_blocks.2.attentions.1.transformer_blocks.9.ff.net.0.proj')).toEqual([
      10240, 1280,
    ]);
    expect(get('sdxl', 'text_encoder_2', 'text_projection')).toEqual([1280, 1280]);
  });
});

describe('parseUNetConfig resolves per-block fields as diffusers does', () => {
  const sd15 = parseUNetConfig(readJson(`${FIX}/configs/sd15/unet/config.json`));
  const sd2 = parseUNetConfig(readJson(`${FIX}/configs/sd2/unet/config.json`));
  const sdxl = parseUNetConfig(readJson(`${FIX}/configs/sdxl/unet/config.json`));

  it('attention_head_dim is the number of heads (diffusers #2011)', () => {
    expect(sd15.numAttentionHeads).toEqual([8, 8, 8, 8]);
    expect(sd15.downBlocks.slice(0, 3).map((b) => b.transformers[0]?.headDim)).toEqual([40, 80, 160]);
    expect(sd2.downBlocks.slice(0, 3).map((b) => b.transformers[0]?.headDim)).toEqual([64, 64, 64]);
    expect(sdxl.upBlocks.slice(0, 2).map((b) => b.transformers[0]?.numHeads)).toEqual([20, 10]);
    expect(sdxl.midBlock?.transformers[0]).toMatchObject({
      numHeads: 20,
      headDim: 64,
      depth: 10,
      crossAttentionDim: 2048,
    });
  });

  it('transformer depths, defaults, reversed up blocks', () => {
    expect(sdxl.transformerLayersPerBlock).toEqual([
      [1, 1],
      [2, 2],
      [10, 10],
    ]);
    expect(sdxl.reverseTransformerLayersPerBlock).toEqual([
      [10, 10, 10],
      [2, 2, 2],
      [1, 1, 1],
    ]);
    expect(sdxl.upBlocks.map((b) => b.transformers.map((t) => t.depth))).toEqual([
      [10, 10, 10],
      [2, 2, 2],
      [],
    ]);
    expect(sdxl.additionEmbedType).toBe('text_time');
    expect(sd15).toMatchObject({
      midBlockType: 'UNetMidBlock2DCrossAttn',
      actFn: 'silu',
      normEps: 1e-5,
      timeEmbedDim: 1280,
      useLinearProjection: false,
      upcastAttention: false,
      centerInputSample: false,
      flipSinToCos: true,
      freqShift: 0,
      convInKernel: 3,
      layersPerBlock: [2, 2, 2, 2],
      crossAttentionDim: [768, 768, 768, 768],
      onlyCrossAttention: [false, false, false, false],
    });
    expect(sd15.downBlocks.map((b) => b.addDownsample)).toEqual([true, true, true, false]);
    expect(sd15.upBlocks.map((b) => b.numLayers)).toEqual([3, 3, 3, 3]);
    expect(sd15.upBlocks[0]?.resnetInChannels).toEqual([2560, 2560, 2560]);
  });

  it('refuses what diffusers refuses and what we do not build', () => {
    const base = readJson<Record<string, unknown>>(`${FIX}/configs/sd15/unet/config.json`);
    expect(() => parseUNetConfig({ ...base, num_attention_heads: 8 })).toThrow(
      expect.objectContaining({ code: 'config-invalid' }),
    );
    expect(() => parseUNetConfig({ ...base, class_embed_type: 'timestep' })).toThrow(
      expect.objectContaining({ code: 'not-implemented' }),
    );
    expect(() => parseUNetConfig({ ...base, layers_per_block: 'two' })).toThrow(
      expect.objectContaining({
        code: 'config-invalid',
        message: expect.stringContaining('layers_per_block'),
      }),
    );
    expect(() => parseUNetConfig({ ...base, attention_head_dim: [8, 8] })).toThrow(
      expect.objectContaining({ code: 'config-invalid' }),
    );
  });
});

describe('other configs', () => {
  it('CLIP text configs: class from model_index.json or architectures, transformers defaults', () => {
    const te2 = parseClipTextConfig(readJson(`${FIX}/configs/sdxl/text_encoder_2/config.json`));
    expect(te2).toMatchObject({
      className: 'CLIPTextModelWithProjection',
      withProjection: true,
      hiddenSize: 1280,
      headDim: 64,
    });
    expect(parseClipTextConfig({}, 'x', 'CLIPTextModel')).toMatchObject({
      hiddenSize: 512,
      numHiddenLayers: 12,
      hiddenAct: 'quick_gelu',
      layerNormEps: 1e-5,
      withProjection: false,
    });
  });
  it('model_index.json drops [null, null] components and keeps options', () => {
    const idx = parseModelIndex(readJson(`${FIX}/models/tiny-sdxl/model_index.json`));
    expect(idx.pipelineClass).toBe('StableDiffusionXLPipeline');
    expect(idx.components.map((c) => c.name)).toEqual([
      'scheduler',
      'text_encoder',
      'text_encoder_2',
      'tokenizer',
      'tokenizer_2',
      'unet',
      'vae',
    ]);
    expect(idx.options.force_zeros_for_empty_prompt).toBe(true);
  });
  it('VAE config: decoder blocks', () => {
    const vae = parseVaeConfig(readJson(`${FIX}/models/tiny-sd15/vae/config.json`));
    expect(vae.decoderBlocks.map((b) => [b.inChannels, b.outChannels, b.numLayers, b.addUpsample])).toEqual([
      [32, 32, 2, true],
      [32, 16, 2, false],
    ]);
    expect(vae.scalingFactor).toBe(0.18215);
  });
});
