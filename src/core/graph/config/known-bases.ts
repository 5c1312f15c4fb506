/**
 * The public configs of the three base families (the `config.json` fields that differ from the
 * diffusers/transformers defaults, as published in runwayml/stable-diffusion-v1-5,
 * stabilityai/stable-diffusion-2-1 and stabilityai/stable-diffusion-xl-base-1.0). Used to name a
 * LoRA's modules when no base model is given (`lorafuse inspect` without `--base`).
 */
import type { ModelConfigs } from './model-configs.ts';
import { parseModelConfigs } from './model-configs.ts';

const CLIP_L = {
  architectures: ['CLIPTextModel'],
  vocab_size: 49408,
  hidden_size: 768,
  intermediate_size: 3072,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  max_position_embeddings: 77,
  hidden_act: 'quick_gelu',
  projection_dim: 768,
};

const SD_BLOCKS = {
  layers_per_block: 2,
  block_out_channels: [320, 640, 1280, 1280],
  down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
  norm_num_groups: 32,
};

const SD_INDEX = {
  _class_name: 'StableDiffusionPipeline',
  unet: ['diffusers', 'UNet2DConditionModel'],
  text_encoder: ['transformers', 'CLIPTextModel'],
};

export const KNOWN_BASES = {
  sd15: {
    index: SD_INDEX,
    configs: {
      unet: { ...SD_BLOCKS, sample_size: 64, cross_attention_dim: 768, attention_head_dim: 8 },
      text_encoder: CLIP_L,
    },
  },
  sd2: {
    index: SD_INDEX,
    configs: {
      unet: {
        ...SD_BLOCKS,
        sample_size: 96,
        cross_attention_dim: 1024,
        attention_head_dim: [5, 10, 20, 20],
        use_linear_projection: true,
      },
      text_encoder: {
        ...CLIP_L,
        hidden_size: 1024,
        intermediate_size: 4096,
        num_hidden_layers: 23,
        num_attention_heads: 16,
        hidden_act: 'gelu',
        projection_dim: 512,
      },
    },
  },
  sdxl: {
    index: {
      _class_name: 'StableDiffusionXLPipeline',
      unet: ['diffusers', 'UNet2DConditionModel'],
      text_encoder: ['transformers', 'CLIPTextModel'],
      text_encoder_2: ['transformers', 'CLIPTextModelWithProjection'],
    },
    configs: {
      unet: {
        sample_size: 128,
        layers_per_block: 2,
        block_out_channels: [320, 640, 1280],
        down_block_types: ['DownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D'],
        up_block_types: ['CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'UpBlock2D'],
        cross_attention_dim: 2048,
        attention_head_dim: [5, 10, 20],
        transformer_layers_per_block: [1, 2, 10],
        use_linear_projection: true,
        addition_embed_type: 'text_time',
        addition_time_embed_dim: 256,
        projection_class_embeddings_input_dim: 2816,
        norm_num_groups: 32,
      },
      text_encoder: CLIP_L,
      text_encoder_2: {
        ...CLIP_L,
        architectures: ['CLIPTextModelWithProjection'],
        hidden_size: 1280,
        intermediate_size: 5120,
        num_hidden_layers: 32,
        num_attention_heads: 20,
        hidden_act: 'gelu',
        projection_dim: 1280,
      },
    },
  },
} as const;

export type KnownBase = keyof typeof KNOWN_BASES;

export const KNOWN_BASE_NAMES = Object.keys(KNOWN_BASES) as KnownBase[];

export function knownBaseConfigs(name: KnownBase): ModelConfigs {
  const b = KNOWN_BASES[name];
  return parseModelConfigs(b.index, b.configs, `${name}:`);
}
