/**
 * Block-dict expansion and per-module multipliers against the rules written down in
 * LORA-FORMATS.md 3.9 (Diffusers' `_maybe_expand_lora_scales` and `set_weights_and_activate_adapters`),
 * on the fixture UNets: tiny-sd15 (down 0 with 1 attention, down 1 without; up 0 without, up 1
 * with 2) and tiny-sdxl (down 0 without, down 1 with attentions; up 0 with, up 1 without).
 */
import { describe, expect, it } from 'vitest';
import { blockMultiplier, expandBlockWeights } from '../../src/core/pipeline/adapters/block-weights.ts';
import { target } from './adapters-helpers.ts';

const sd15 = target('tiny-sd15').unet!;
const sdxl = target('tiny-sdxl').unet!;

function expanded(input: unknown, unet = sd15): Record<string, number> {
  return Object.fromEntries(expandBlockWeights(input, unet).byAttention);
}

describe('expandBlockWeights', () => {
  it('expands the fixture dict as Diffusers did (tiny-sd15_unet_blockwise_scales description)', () => {
    expect(expanded({ down: 0.3, mid: 0.0, up: { block_1: [0.5, 1.2] } })).toEqual({
      'down_blocks.0.attentions.0': 0.3,
      'mid_block.attentions.0': 0,
      'up_blocks.1.attentions.0': 0.5,
      'up_blocks.1.attentions.1': 1.2,
    });
  });

  it('fills missing parts with 1.0 and broadcasts one-element lists', () => {
    expect(expanded({ up: { block_1: [0.25] }, mid: [0.5] })).toEqual({
      'down_blocks.0.attentions.0': 1,
      'mid_block.attentions.0': 0.5,
      'up_blocks.1.attentions.0': 0.25,
      'up_blocks.1.attentions.1': 0.25,
    });
  });

  it('expands SDXL blocks: only blocks with attentions, transformers per block from the config', () => {
    const e = expanded({ down: 0.9, up: { block_0: 0.6 } }, sdxl);
    const downKeys = Object.keys(e).filter((k) => k.startsWith('down_blocks'));
    expect(downKeys.every((k) => k.startsWith('down_blocks.1.'))).toBe(true);
    expect(downKeys.every((k) => e[k] === 0.9)).toBe(true);
    const up0 = Object.keys(e).filter((k) => k.startsWith('up_blocks.0.'));
    expect(up0.length).toBe(sdxl.upBlocks[0]!.numLayers);
    expect(up0.every((k) => e[k] === 0.6)).toBe(true);
    expect(e['mid_block.attentions.0']).toBe(1);
  });

  it.each([
    [{ down: 1, side: 2 }, /unknown key 'side'/],
    [{ up: { block_1: [1, 2, 3] } }, /has 3 values; this block has 2 transformer/],
    [{ up: { block_0: 1 } }, /no attention layers/],
    [{ down: { block_7: 1 } }, /not a block of this UNet/],
    [{ down: { first: 1 } }, /not a block of this UNet/],
    [{ mid: [1, 2] }, /mid takes one value/],
    [{ down: Number.NaN }, /finite number/],
    [{ up: { block_1: [1, 'x'] } }, /finite number/],
  ])('refuses %j', (input, message) => {
    expect(() => expandBlockWeights(input, sd15)).toThrow(message);
  });
});

describe('blockMultiplier (LORA-FORMATS.md 3.9 fallback rule)', () => {
  const w = expandBlockWeights({ down: { block_0: 0.3 }, mid: 0.6, up: { block_1: [0.5, 1.2] } }, sd15);
  it.each([
    ['down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q', 0.3],
    ['down_blocks.0.attentions.0.proj_in', 0.3],
    // resnets and samplers take the attention with the same index in the same block
    ['down_blocks.0.resnets.0.conv1', 0.3],
    ['down_blocks.0.resnets.0.time_emb_proj', 0.3],
    ['down_blocks.0.downsamplers.0.conv', 0.3],
    ['up_blocks.1.resnets.0.conv1', 0.5],
    ['up_blocks.1.resnets.1.conv_shortcut', 1.2],
    ['up_blocks.1.attentions.1.proj_out', 1.2],
    // no attention with that index, or mid-block resnets: 1.0
    ['down_blocks.1.resnets.0.conv1', 1],
    ['up_blocks.0.resnets.1.conv2', 1],
    ['up_blocks.0.upsamplers.0.conv', 1],
    ['mid_block.resnets.0.conv1', 1],
    ['mid_block.attentions.0.transformer_blocks.0.ff.net.2', 0.6],
  ])('%s -> %d', (path, want) => {
    expect(blockMultiplier(w, path)).toBe(want);
  });

  it.each(['conv_in', 'conv_out', 'time_embedding.linear_1', 'add_embedding.linear_2'])(
    '%s has no block index: null (Diffusers raises IndexError)',
    (path) => {
      expect(blockMultiplier(w, path)).toBeNull();
    },
  );
});
