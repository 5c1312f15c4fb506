/** PEFT writer: keys, shapes, factor bytes and the lora_adapter_metadata config, read back. */
import { describe, expect, it } from 'vitest';
import { ComponentInventory } from '../../src/core/graph/config/inventory.ts';
import { readSafetensors } from '../../src/core/io/safetensors.ts';
import type { AdapterModule, CanonicalAdapter } from '../../src/core/lora/adapter.ts';
import { writePeft } from '../../src/core/lora/write/peft.ts';
import { isLorafuseError } from '../../src/errors.ts';
import { mod, rand, rng } from './lora-math-helpers.ts';

function adapter(modules: AdapterModule[]): CanonicalAdapter {
  return { source: 'test.safetensors', modules, unmapped: [], metadata: {} };
}

describe('writePeft', () => {
  const next = rng(50);
  const q = mod('lora', { down: rand([4, 8], next), up: rand([8, 4], next) }, 4, 2, {
    module: 'down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q',
  });
  const k = mod('lora', { down: rand([4, 8], next), up: rand([8, 4], next) }, 4, 2, {
    module: 'down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_k',
  });
  const projIn = mod('lora', { down: rand([2, 8], next), up: rand([8, 2], next) }, 2, 0, {
    module: 'down_blocks.0.attentions.0.proj_in',
  });
  const te: AdapterModule = {
    ...mod('lora', { down: rand([4, 6], next), up: rand([6, 4], next) }, 4, 8),
    component: 'text_encoder',
    module: 'text_model.encoder.layers.0.self_attn.q_proj',
  };

  it('writes PEFT keys, the factors unchanged, and per-component r/alpha with patterns', () => {
    const bytes = writePeft(adapter([q, k, projIn, te]));
    const f = readSafetensors(bytes, 'out.safetensors');
    expect(f.names().sort()).toEqual(
      [
        'unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora_A.weight',
        'unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora_B.weight',
        'unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_k.lora_A.weight',
        'unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_k.lora_B.weight',
        'unet.down_blocks.0.attentions.0.proj_in.lora_A.weight',
        'unet.down_blocks.0.attentions.0.proj_in.lora_B.weight',
        'text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight',
        'text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_B.weight',
      ].sort(),
    );
    expect(
      Array.from(f.float32('unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora_B.weight')),
    ).toEqual(Array.from(q.factors.up!.data));
    const meta = JSON.parse(f.header.metadata.lora_adapter_metadata!);
    expect(meta['unet.r']).toBe(4);
    expect(meta['unet.lora_alpha']).toBe(2);
    // proj_in: rank 2, alpha 0 in the file = alpha 2 (its rank)
    expect(meta['unet.rank_pattern']).toEqual({ 'down_blocks.0.attentions.0.proj_in': 2 });
    expect(meta['unet.alpha_pattern']).toEqual({});
    expect(meta['unet.target_modules']).toHaveLength(3);
    expect(meta['text_encoder.r']).toBe(4);
    expect(meta['text_encoder.lora_alpha']).toBe(8);
    expect(meta['unet.use_dora']).toBe(false);
    expect(f.header.metadata.format).toBe('pt');
  });

  it('shapes factors for a 1x1 conv target from the inventory', () => {
    const inv = new ComponentInventory([
      { path: 'down_blocks.0.attentions.0.proj_in', kind: 'conv', weight: [8, 8, 1, 1], bias: [8] },
    ]);
    const f = readSafetensors(writePeft(adapter([projIn]), { inventories: { unet: inv } }), 'o');
    expect(f.info('unet.down_blocks.0.attentions.0.proj_in.lora_A.weight').shape).toEqual([2, 8, 1, 1]);
    expect(f.info('unet.down_blocks.0.attentions.0.proj_in.lora_B.weight').shape).toEqual([8, 2, 1, 1]);
  });

  it('writes DoRA magnitudes as lora_magnitude_vector and sets use_dora', () => {
    const dora = { ...q, dora: { magnitude: rand([8], next), axis: 'out' as const, style: 'peft' as const } };
    const f = readSafetensors(writePeft(adapter([dora])), 'o');
    const key = 'unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora_magnitude_vector';
    expect(f.info(key).shape).toEqual([8]);
    expect(Array.from(f.float32(key))).toEqual(Array.from(dora.dora.magnitude.data));
    expect(JSON.parse(f.header.metadata.lora_adapter_metadata!)['unet.use_dora']).toBe(true);
  });

  it('refuses kinds PEFT cannot hold and input-axis DoRA, naming the module', () => {
    const loha = mod(
      'loha',
      { w1a: rand([2, 1], next), w1b: rand([1, 2], next), w2a: rand([2, 1], next), w2b: rand([1, 2], next) },
      1,
      1,
    );
    try {
      writePeft(adapter([loha]));
      expect.unreachable();
    } catch (e) {
      expect(isLorafuseError(e) && e.code).toBe('not-implemented');
      expect((e as Error).message).toMatch(/unet\.down_blocks\.0\.attentions\.0\.proj_in.*kohya/);
    }
    const inAxis = {
      ...q,
      dora: { magnitude: rand([1, 8], next), axis: 'in' as const, style: 'lycoris' as const },
    };
    expect(() => writePeft(adapter([inAxis]))).toThrow(/input column/);
  });
});
