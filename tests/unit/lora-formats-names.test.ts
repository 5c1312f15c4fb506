/**
 * Golden key mapping against the config-only full-size bases (tests/fixtures/configs): every row
 * of LORA-FORMATS.md's worked tables (1.1 examples, 2.4), plus the property that every module of
 * every base resolves back to itself from its kohya and LDM spellings.
 */
import { describe, expect, it } from 'vitest';
import { moduleId } from '../../src/core/lora/adapter.ts';
import { resolveKey } from '../../src/core/lora/convert.ts';
import { flatten, kohyaIndex } from '../../src/core/lora/formats/kohya-index.ts';
import { ldmBlockNames, toLdmPath } from '../../src/core/lora/formats/ldm-names.ts';
import type { LoraTarget } from '../../src/core/lora/target.ts';
import { FIX, targetFromDir } from './lora-formats-helpers.ts';

const sd15 = targetFromDir(`${FIX}/configs/sd15`);
const sd2 = targetFromDir(`${FIX}/configs/sd2`);
const sdxl = targetFromDir(`${FIX}/configs/sdxl`);

/** A file key -> `component.module`, or `unmapped: <reason>`. */
function where(target: LoraTarget, key: string): string {
  const r = resolveKey(key, target);
  return 'reason' in r ? `unmapped: ${r.reason}` : moduleId({ component: r.component, module: r.path });
}

// LORA-FORMATS.md 2.4, SDXL table (kohya module names; suffix added).
const SDXL_24: [string, string][] = [
  [
    'lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q',
    'unet.down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q',
  ],
  [
    'lora_unet_input_blocks_8_1_transformer_blocks_9_ff_net_0_proj',
    'unet.down_blocks.2.attentions.1.transformer_blocks.9.ff.net.0.proj',
  ],
  ['lora_unet_middle_block_2_emb_layers_1', 'unet.mid_block.resnets.1.time_emb_proj'],
  ['lora_unet_output_blocks_3_0_skip_connection', 'unet.up_blocks.1.resnets.0.conv_shortcut'],
  ['lora_unet_output_blocks_5_2_conv', 'unet.up_blocks.1.upsamplers.0.conv'],
  ['lora_unet_input_blocks_3_0_op', 'unet.down_blocks.0.downsamplers.0.conv'],
  ['lora_unet_output_blocks_8_0_out_layers_3', 'unet.up_blocks.2.resnets.2.conv2'],
  ['lora_unet_input_blocks_0_0', 'unet.conv_in'],
  ['lora_unet_out_2', 'unet.conv_out'],
  ['lora_unet_time_embed_0', 'unet.time_embedding.linear_1'],
  ['lora_unet_label_emb_0_2', 'unet.add_embedding.linear_2'],
  [
    'lora_te1_text_model_encoder_layers_0_self_attn_q_proj',
    'text_encoder.text_model.encoder.layers.0.self_attn.q_proj',
  ],
  [
    'lora_te2_text_model_encoder_layers_31_self_attn_out_proj',
    'text_encoder_2.text_model.encoder.layers.31.self_attn.out_proj',
  ],
  ['lora_te2_text_projection', 'text_encoder_2.text_projection'],
];

// LORA-FORMATS.md 2.4, SD1.x (diffusers names) and SD1.x files with LDM names.
const SD15_24: [string, string][] = [
  [
    'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_out_0',
    'unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0',
  ],
  [
    'lora_unet_up_blocks_3_attentions_2_transformer_blocks_0_ff_net_2',
    'unet.up_blocks.3.attentions.2.transformer_blocks.0.ff.net.2',
  ],
  ['lora_unet_down_blocks_0_resnets_0_time_emb_proj', 'unet.down_blocks.0.resnets.0.time_emb_proj'],
  ['lora_unet_up_blocks_0_resnets_0_conv_shortcut', 'unet.up_blocks.0.resnets.0.conv_shortcut'],
  ['lora_unet_time_embedding_linear_1', 'unet.time_embedding.linear_1'],
  ['lora_unet_input_blocks_1_1_proj_in', 'unet.down_blocks.0.attentions.0.proj_in'],
  ['lora_unet_input_blocks_9_0_op', 'unet.down_blocks.2.downsamplers.0.conv'],
  ['lora_unet_input_blocks_10_0_in_layers_2', 'unet.down_blocks.3.resnets.0.conv1'],
  ['lora_unet_output_blocks_2_1_conv', 'unet.up_blocks.0.upsamplers.0.conv'],
  ['lora_unet_output_blocks_11_1_proj_out', 'unet.up_blocks.3.attentions.2.proj_out'],
  [
    'lora_unet_middle_block_1_transformer_blocks_0_attn2_to_v',
    'unet.mid_block.attentions.0.transformer_blocks.0.attn2.to_v',
  ],
];

describe('LORA-FORMATS.md 2.4 worked examples', () => {
  it.each(SDXL_24)('SDXL %s', (kohya, diffusers) => {
    expect(where(sdxl, `${kohya}.lora_down.weight`)).toBe(diffusers);
    expect(where(sdxl, `${kohya}.alpha`)).toBe(diffusers);
  });
  it.each(SD15_24)('SD1.5 %s', (kohya, diffusers) => {
    expect(where(sd15, `${kohya}.lora_up.weight`)).toBe(diffusers);
  });
});

// LORA-FORMATS.md 1.1: every example key of both columns, per format.
const SD15_11: [string, string][] = [
  [
    'unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora_A.weight',
    'unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q',
  ],
  ['unet.mid_block.attentions.0.proj_in.lora_B.weight', 'unet.mid_block.attentions.0.proj_in'],
  [
    'text_encoder.text_model.encoder.layers.3.self_attn.k_proj.lora_A.weight',
    'text_encoder.text_model.encoder.layers.3.self_attn.k_proj',
  ],
  [
    'unet.down_blocks.0.attentions.1.transformer_blocks.0.attn1.to_k.lora.down.weight',
    'unet.down_blocks.0.attentions.1.transformer_blocks.0.attn1.to_k',
  ],
  [
    'text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_linear_layer.up.weight',
    'text_encoder.text_model.encoder.layers.0.self_attn.q_proj',
  ],
  [
    'down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_q_lora.down.weight',
    'unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q',
  ],
  [
    'unet.up_blocks.3.attentions.2.transformer_blocks.0.attn2.processor.to_out_lora.up.weight',
    'unet.up_blocks.3.attentions.2.transformer_blocks.0.attn2.to_out.0',
  ],
  [
    'text_encoder.text_model.encoder.layers.11.self_attn.to_v_lora.down.weight',
    'text_encoder.text_model.encoder.layers.11.self_attn.v_proj',
  ],
  [
    'base_model.model.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora_A.weight',
    'unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q',
  ],
  [
    'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_down.weight',
    'unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q',
  ],
  ['lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight', 'unet.down_blocks.0.attentions.0.proj_in'],
  ['lora_te_text_model_encoder_layers_0_mlp_fc1.alpha', 'text_encoder.text_model.encoder.layers.0.mlp.fc1'],
  ['lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight', 'unet.down_blocks.0.resnets.0.conv1'],
  ['lora_unet_down_blocks_0_downsamplers_0_conv.lora_up.weight', 'unet.down_blocks.0.downsamplers.0.conv'],
  ['lora_unet_conv_in.lora_mid.weight', 'unet.conv_in'],
  [
    'lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k.hada_w1_a',
    'unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k',
  ],
  [
    'lora_te_text_model_encoder_layers_2_self_attn_out_proj.hada_w2_b',
    'text_encoder.text_model.encoder.layers.2.self_attn.out_proj',
  ],
  ['lora_unet_up_blocks_1_resnets_0_conv1.hada_t1', 'unet.up_blocks.1.resnets.0.conv1'],
  [
    'lora_unet_mid_block_attentions_0_transformer_blocks_0_attn1_to_v.lokr_w1',
    'unet.mid_block.attentions.0.transformer_blocks.0.attn1.to_v',
  ],
  [
    'lora_unet_mid_block_attentions_0_transformer_blocks_0_attn1_to_v.lokr_w2_a',
    'unet.mid_block.attentions.0.transformer_blocks.0.attn1.to_v',
  ],
  ['lora_unet_down_blocks_0_resnets_0_conv1.diff', 'unet.down_blocks.0.resnets.0.conv1'],
  ['lora_unet_down_blocks_0_resnets_0_conv1.diff_b', 'unet.down_blocks.0.resnets.0.conv1'],
  ['lora_unet_down_blocks_0_resnets_0_norm1.w_norm', 'unet.down_blocks.0.resnets.0.norm1'],
  ['lora_unet_down_blocks_0_attentions_0_proj_in.dora_scale', 'unet.down_blocks.0.attentions.0.proj_in'],
  [
    'unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora_magnitude_vector',
    'unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q',
  ],
  [
    'lora_te_text_model_encoder_layers_11_self_attn_v_proj.lora_up.weight',
    'text_encoder.text_model.encoder.layers.11.self_attn.v_proj',
  ],
  [
    'text_encoder.text_model.encoder.layers.11.mlp.fc2.lora_B.weight',
    'text_encoder.text_model.encoder.layers.11.mlp.fc2',
  ],
];

const SDXL_11: [string, string][] = [
  [
    'unet.down_blocks.1.attentions.0.transformer_blocks.1.attn2.to_out.0.lora_B.weight',
    'unet.down_blocks.1.attentions.0.transformer_blocks.1.attn2.to_out.0',
  ],
  [
    'text_encoder.text_model.encoder.layers.0.mlp.fc1.lora_A.weight',
    'text_encoder.text_model.encoder.layers.0.mlp.fc1',
  ],
  [
    'text_encoder_2.text_model.encoder.layers.31.self_attn.q_proj.lora_B.weight',
    'text_encoder_2.text_model.encoder.layers.31.self_attn.q_proj',
  ],
  [
    'unet.down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q.lora.up.weight',
    'unet.down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q',
  ],
  [
    'text_encoder_2.text_model.encoder.layers.5.mlp.fc2.lora_linear_layer.down.weight',
    'text_encoder_2.text_model.encoder.layers.5.mlp.fc2',
  ],
  [
    'unet.down_blocks.2.attentions.1.transformer_blocks.9.attn2.processor.to_k_lora.down.weight',
    'unet.down_blocks.2.attentions.1.transformer_blocks.9.attn2.to_k',
  ],
  [
    'lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q.lora_down.weight',
    'unet.down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q',
  ],
  ['lora_unet_output_blocks_0_1_proj_in.alpha', 'unet.up_blocks.0.attentions.0.proj_in'],
  [
    'lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight',
    'text_encoder.text_model.encoder.layers.0.self_attn.q_proj',
  ],
  [
    'lora_te2_text_model_encoder_layers_31_mlp_fc2.lora_up.weight',
    'text_encoder_2.text_model.encoder.layers.31.mlp.fc2',
  ],
  ['lora_unet_input_blocks_1_0_in_layers_2.lora_down.weight', 'unet.down_blocks.0.resnets.0.conv1'],
  ['lora_unet_output_blocks_2_2_conv.lora_up.weight', 'unet.up_blocks.0.upsamplers.0.conv'],
  ['lora_unet_input_blocks_3_0_op.alpha', 'unet.down_blocks.0.downsamplers.0.conv'],
  [
    'lora_unet_input_blocks_7_1_transformer_blocks_3_ff_net_2.hada_w1_b',
    'unet.down_blocks.2.attentions.0.transformer_blocks.3.ff.net.2',
  ],
  [
    'lora_te2_text_model_encoder_layers_10_mlp_fc1.hada_w2_a',
    'text_encoder_2.text_model.encoder.layers.10.mlp.fc1',
  ],
  [
    'lora_unet_middle_block_1_transformer_blocks_5_attn1_to_out_0.lokr_w1',
    'unet.mid_block.attentions.0.transformer_blocks.5.attn1.to_out.0',
  ],
  [
    'lora_te1_text_model_encoder_layers_4_mlp_fc2.lokr_w2',
    'text_encoder.text_model.encoder.layers.4.mlp.fc2',
  ],
  ['lora_unet_input_blocks_1_0_in_layers_2.diff', 'unet.down_blocks.0.resnets.0.conv1'],
  ['lora_unet_input_blocks_1_0_in_layers_0.w_norm', 'unet.down_blocks.0.resnets.0.norm1'],
  [
    'lora_te1_text_model_encoder_layers_0_layer_norm1.b_norm',
    'text_encoder.text_model.encoder.layers.0.layer_norm1',
  ],
  [
    'lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_q.dora_scale',
    'unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_q',
  ],
  [
    'unet.up_blocks.0.attentions.1.transformer_blocks.4.ff.net.2.lora_magnitude_vector',
    'unet.up_blocks.0.attentions.1.transformer_blocks.4.ff.net.2',
  ],
  ['lora_te2_text_projection.lora_down.weight', 'text_encoder_2.text_projection'],
  ['text_encoder_2.text_projection.lora_A.weight', 'text_encoder_2.text_projection'],
];

describe('LORA-FORMATS.md 1.1 example keys', () => {
  it.each(SD15_11)('SD1.5 %s', (key, module) => expect(where(sd15, key)).toBe(module));
  it.each(SDXL_11)('SDXL %s', (key, module) => expect(where(sdxl, key)).toBe(module));

  it('raw PEFT text-encoder keys on SDXL are ambiguous (TE1 and TE2), reported not guessed', () => {
    expect(
      where(sdxl, 'base_model.model.text_model.encoder.layers.0.self_attn.q_proj.lora_B.weight'),
    ).toMatch(/^unmapped: .*text_encoder and text_encoder_2: ambiguous/);
    expect(where(sd15, 'base_model.model.text_model.encoder.layers.0.self_attn.q_proj.lora_B.weight')).toBe(
      'text_encoder.text_model.encoder.layers.0.self_attn.q_proj',
    );
  });
});

describe('edge cases of naming', () => {
  it('lora_te1_ is the first text encoder on SD1.x too; lora_te2_ needs a second one', () => {
    expect(where(sd15, 'lora_te1_text_model_encoder_layers_0_mlp_fc1.alpha')).toBe(
      'text_encoder.text_model.encoder.layers.0.mlp.fc1',
    );
    expect(where(sd15, 'lora_te2_text_model_encoder_layers_0_mlp_fc1.alpha')).toMatch(
      /^unmapped: component text_encoder_2/,
    );
  });
  it('SD1.x TE1 has no text_projection; SD2 text encoder has 23 layers', () => {
    expect(where(sdxl, 'lora_te1_text_projection.lora_down.weight')).toMatch(
      /^unmapped: no module of text_encoder/,
    );
    expect(where(sd2, 'lora_te_text_model_encoder_layers_22_mlp_fc2.lora_down.weight')).toBe(
      'text_encoder.text_model.encoder.layers.22.mlp.fc2',
    );
    expect(where(sd2, 'lora_te_text_model_encoder_layers_23_mlp_fc2.lora_down.weight')).toMatch(/^unmapped/);
  });
  it('diffusers-named SDXL kohya keys map too (incl. add_embedding, a gap of diffusers)', () => {
    expect(where(sdxl, 'lora_unet_add_embedding_linear_1.lora_down.weight')).toBe(
      'unet.add_embedding.linear_1',
    );
    expect(
      where(sdxl, 'lora_unet_down_blocks_2_attentions_1_transformer_blocks_9_attn2_to_k.lora_down.weight'),
    ).toBe('unet.down_blocks.2.attentions.1.transformer_blocks.9.attn2.to_k');
  });
  it('no _ -> . guessing: a near-miss name is unmapped', () => {
    expect(
      where(sd15, 'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_out.lora_down.weight'),
    ).toMatch(/^unmapped/);
    expect(
      where(sd15, 'lora_unet_down_blocks_0_attentions_0_transformer_blocks_1_attn1_to_q.lora_down.weight'),
    ).toMatch(/^unmapped/);
    expect(where(sd15, 'something_else.weight')).toMatch(/^unmapped: not a LoRA key/);
    expect(where(sd15, 'lora_unet_conv_in.oft_blocks')).toMatch(/OFT/);
  });
});

describe.each([
  ['sd15', sd15],
  ['sd2', sd2],
  ['sdxl', sdxl],
])('every module of %s resolves from its kohya and LDM spellings', (_name, target) => {
  it('kohya index is a bijection onto the inventory', () => {
    const index = kohyaIndex(target);
    const ldm = target.unet ? ldmBlockNames(target.unet) : [];
    for (const [comp, tc] of Object.entries(target.components)) {
      const prefix = comp === 'unet' ? 'lora_unet_' : comp === 'text_encoder' ? 'lora_te_' : 'lora_te2_';
      for (const m of tc.inventory.modules) {
        expect(index.get(prefix + flatten(m.path))).toMatchObject({ component: comp, path: m.path });
        if (comp === 'unet') {
          const alias = toLdmPath(m.path, ldm);
          if (alias !== null)
            expect(index.get(`lora_unet_${flatten(alias)}`)).toMatchObject({ component: comp, path: m.path });
        }
      }
    }
  });
  it('every UNet Linear/Conv2d has an LDM spelling', () => {
    const ldm = target.unet ? ldmBlockNames(target.unet) : [];
    const missing = (target.components.unet?.inventory.modules ?? [])
      .filter((m) => m.kind !== 'embedding' && toLdmPath(m.path, ldm) === null)
      .map((m) => m.path);
    expect(missing).toEqual([]);
  });
});
