/** kohya/LyCORIS writer: names, suffixes, shapes, alpha scalars and dora_scale, read back. */

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ComponentInventory } from '../../src/core/graph/config/inventory.ts';
import { parseUNetConfig } from '../../src/core/graph/config/unet-config.ts';
import { readSafetensors } from '../../src/core/io/safetensors.ts';
import type { AdapterModule, CanonicalAdapter } from '../../src/core/lora/adapter.ts';
import { writeKohya } from '../../src/core/lora/write/kohya.ts';
import { isLorafuseError } from '../../src/errors.ts';
import { mod, rand, rng } from './lora-math-helpers.ts';

function adapter(modules: AdapterModule[]): CanonicalAdapter {
  return { source: 'test.safetensors', modules, unmapped: [], metadata: {} };
}

function shapes(bytes: Uint8Array): Record<string, number[]> {
  const f = readSafetensors(bytes, 'out.safetensors');
  return Object.fromEntries(f.names().map((n) => [n, f.info(n).shape]));
}

describe('writeKohya', () => {
  const next = rng(60);
  const toOut = mod('lora', { down: rand([4, 8], next), up: rand([8, 4], next) }, 4, 0, {
    module: 'down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0',
  });
  const fc1: AdapterModule = {
    ...mod('lora', { down: rand([2, 6], next), up: rand([12, 2], next) }, 2, 1),
    component: 'text_encoder',
    module: 'text_model.encoder.layers.3.mlp.fc1',
  };

  it('SD1.x: diffusers names flattened, lora_te_, alpha as applied (0 -> rank)', () => {
    const bytes = writeKohya(adapter([toOut, fc1]));
    expect(shapes(bytes)).toEqual({
      'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_out_0.lora_down.weight': [4, 8],
      'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_out_0.lora_up.weight': [8, 4],
      'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_out_0.alpha': [],
      'lora_te_text_model_encoder_layers_3_mlp_fc1.lora_down.weight': [2, 6],
      'lora_te_text_model_encoder_layers_3_mlp_fc1.lora_up.weight': [12, 2],
      'lora_te_text_model_encoder_layers_3_mlp_fc1.alpha': [],
    });
    const f = readSafetensors(bytes, 'o');
    expect(
      Array.from(f.float32('lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_out_0.alpha')),
    ).toEqual([4]);
    expect(Array.from(f.float32('lora_te_text_model_encoder_layers_3_mlp_fc1.alpha'))).toEqual([1]);
    expect(Array.from(f.float32('lora_te_text_model_encoder_layers_3_mlp_fc1.lora_up.weight'))).toEqual(
      Array.from(fc1.factors.up!.data),
    );
    expect(f.header.metadata.ss_network_module).toBe('networks.lora');
  });

  it('SDXL: sgm UNet names through the mapper, lora_te1_ / lora_te2_', () => {
    const te2: AdapterModule = { ...fc1, component: 'text_encoder_2' };
    // tiny-sdxl: down_blocks.0 has no attention, so down_blocks.1.attentions.0 is input_blocks.4.1 (2.4)
    const unet = parseUNetConfig(
      JSON.parse(readFileSync('tests/fixtures/models/tiny-sdxl/unet/config.json', 'utf8')),
    );
    const xl = { ...toOut, module: 'down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_out.0' };
    const names = Object.keys(shapes(writeKohya(adapter([xl, fc1, te2]), { unet })));
    expect(names).toContain(
      'lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_out_0.lora_down.weight',
    );
    expect(names).toContain('lora_te1_text_model_encoder_layers_3_mlp_fc1.alpha');
    expect(names).toContain('lora_te2_text_model_encoder_layers_3_mlp_fc1.lora_up.weight');
    try {
      writeKohya(adapter([xl, te2]));
      expect.unreachable();
    } catch (e) {
      expect(isLorafuseError(e) && e.code).toBe('lora-unmapped-keys');
    }
  });

  it('writes every LyCORIS kind with its own suffixes', () => {
    const m = (kind: AdapterModule['kind'], f: Record<string, ReturnType<typeof rand>>, module: string) =>
      mod(kind, f, 2, 1, { module });
    const bytes = writeKohya(
      adapter([
        m(
          'loha',
          {
            w1a: rand([4, 2], next),
            w1b: rand([2, 3], next),
            w2a: rand([4, 2], next),
            w2b: rand([2, 3], next),
          },
          'conv_in',
        ),
        m('lokr', { w1: rand([2, 2], next), w2a: rand([2, 2], next), w2b: rand([2, 3], next) }, 'conv_out'),
        m(
          'locon-tucker',
          { down: rand([2, 3, 1, 1], next), mid: rand([2, 2, 3, 3], next), up: rand([4, 2, 1, 1], next) },
          'down_blocks.0.resnets.0.conv1',
        ),
        m('full', { diff: rand([4, 3], next), diffBias: rand([4], next) }, 'time_embedding.linear_1'),
        m('norm', { wNorm: rand([4], next), bNorm: rand([4], next) }, 'conv_norm_out'),
      ]),
    );
    const s = shapes(bytes);
    expect(s['lora_unet_conv_in.hada_w1_a']).toEqual([4, 2]);
    expect(s['lora_unet_conv_in.hada_w2_b']).toEqual([2, 3]);
    expect(s['lora_unet_conv_in.alpha']).toEqual([]);
    expect(s['lora_unet_conv_out.lokr_w1']).toEqual([2, 2]);
    expect(s['lora_unet_conv_out.lokr_w2_a']).toEqual([2, 2]);
    expect(s['lora_unet_down_blocks_0_resnets_0_conv1.lora_mid.weight']).toEqual([2, 2, 3, 3]);
    expect(s['lora_unet_time_embedding_linear_1.diff_b']).toEqual([4]);
    expect(s['lora_unet_time_embedding_linear_1.alpha']).toBeUndefined();
    expect(s['lora_unet_conv_norm_out.w_norm']).toEqual([4]);
    expect(readSafetensors(bytes, 'o').header.metadata.ss_network_module).toBe('lycoris.kohya');
  });

  it('dora_scale shape tells the axis; 1x1 conv targets get 4-D factors', () => {
    const inv = new ComponentInventory([
      { path: 'down_blocks.0.attentions.0.proj_in', kind: 'conv', weight: [8, 8, 1, 1], bias: [8] },
    ]);
    const out = mod('lora', { down: rand([2, 8], next), up: rand([8, 2], next) }, 2, 2, {
      dora: { magnitude: rand([8], next), axis: 'out', style: 'peft' },
    });
    const s = shapes(writeKohya(adapter([out]), { inventories: { unet: inv } }));
    expect(s['lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight']).toEqual([2, 8, 1, 1]);
    expect(s['lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight']).toEqual([8, 2, 1, 1]);
    expect(s['lora_unet_down_blocks_0_attentions_0_proj_in.dora_scale']).toEqual([8, 1, 1, 1]);
    const inAxis = {
      ...out,
      dora: { magnitude: rand([1, 8], next), axis: 'in' as const, style: 'lycoris' as const },
    };
    expect(
      shapes(writeKohya(adapter([inAxis])))['lora_unet_down_blocks_0_attentions_0_proj_in.dora_scale'],
    ).toEqual([1, 8]);
  });

  it('refuses a LoRA bias', () => {
    const withBias = mod(
      'lora',
      { down: rand([1, 2], next), up: rand([2, 1], next), bias: rand([2], next) },
      1,
      1,
    );
    expect(() => writeKohya(adapter([withBias]))).toThrow(/bias/);
  });
});
