/**
 * Typed `UNet2DConditionModel` config, read the way diffusers' `UNet2DConditionModel.__init__`
 * reads it: same defaults, same per-block broadcasting, and the `attention_head_dim` quirk
 * (diffusers issue #2011): the config's `attention_head_dim` is the NUMBER OF HEADS per block
 * (`num_attention_heads = num_attention_heads or attention_head_dim`), and each transformer's
 * head size is `channels // heads`. A config that sets `num_attention_heads` is refused, as
 * diffusers refuses it.
 *
 * Per-block values are resolved into `downBlocks` / `midBlock` / `upBlocks`, so a graph builder
 * or a module inventory never has to re-derive channel counts. Features that SD1.x, SD2.x and SDXL
 * do not use and that we do not build (class embeddings, encoder_hid_proj, gated attention, ...)
 * are refused with `not-implemented` instead of being silently ignored.
 */

import { LorafuseError } from '../../../errors.ts';
import {
  asConfigObject,
  bool,
  boolPerBlock,
  type ConfigSource,
  int,
  intList,
  intPerBlock,
  invalidField,
  num,
  optInt,
  optStr,
  str,
  strList,
  unsupported,
} from './json-fields.ts';

export type DownBlockType = 'CrossAttnDownBlock2D' | 'DownBlock2D';
export type UpBlockType = 'CrossAttnUpBlock2D' | 'UpBlock2D';
export type MidBlockType = 'UNetMidBlock2DCrossAttn' | 'UNetMidBlock2D';

/** One `Transformer2DModel` stack's shape, as built inside a block. */
export interface TransformerSpec {
  /** `num_attention_heads` passed to `Transformer2DModel` (the config's `attention_head_dim`). */
  numHeads: number;
  /** `attention_head_dim` passed to `Transformer2DModel`: `channels // numHeads`. */
  headDim: number;
  /** `numHeads * headDim` (the attention width; equals the block's channels for SD models). */
  innerDim: number;
  /** Number of `BasicTransformerBlock`s (`transformer_layers_per_block`). */
  depth: number;
  crossAttentionDim: number;
  onlyCrossAttention: boolean;
  useLinearProjection: boolean;
  upcastAttention: boolean;
}

export interface UNetDownBlock {
  index: number;
  type: DownBlockType;
  hasAttention: boolean;
  inChannels: number;
  outChannels: number;
  /** Number of resnets (= attentions when `hasAttention`): `layers_per_block[i]`. */
  numLayers: number;
  /** One transformer spec per layer when `hasAttention`, else empty. */
  transformers: TransformerSpec[];
  addDownsample: boolean;
}

export interface UNetUpBlock {
  index: number;
  type: UpBlockType;
  hasAttention: boolean;
  /** The `in_channels` diffusers passes (skip channels of the last resnet). */
  inChannels: number;
  outChannels: number;
  prevOutputChannels: number;
  /** `reversed(layers_per_block)[i] + 1`. */
  numLayers: number;
  transformers: TransformerSpec[];
  addUpsample: boolean;
  /** Input channels of resnet j (`prev_output` or `out`, plus the skip connection). */
  resnetInChannels: number[];
}

export interface UNetMidBlock {
  type: MidBlockType;
  channels: number;
  /** `UNetMidBlock2DCrossAttn`: one transformer; `UNetMidBlock2D` (UNet flavour): none. */
  transformers: TransformerSpec[];
  /** Number of resnets: 2 with an attention, 1 without. */
  numResnets: number;
  scaleFactor: number;
}

export interface UNetConfig {
  file: string;
  sampleSize: number | number[] | null;
  inChannels: number;
  outChannels: number;
  centerInputSample: boolean;
  flipSinToCos: boolean;
  freqShift: number;
  downBlockTypes: DownBlockType[];
  upBlockTypes: UpBlockType[];
  midBlockType: MidBlockType | null;
  blockOutChannels: number[];
  /** Per down block (broadcast from an int). */
  layersPerBlock: number[];
  /** Per down block, per layer (broadcast from an int or per-block list). */
  transformerLayersPerBlock: number[][];
  /** Per up block, per layer; from `reverse_transformer_layers_per_block` or reversed. */
  reverseTransformerLayersPerBlock: number[][];
  /** Per down block. */
  crossAttentionDim: number[];
  /** Heads per down block (the config's `attention_head_dim`, see the file comment). */
  numAttentionHeads: number[];
  onlyCrossAttention: boolean[];
  midBlockOnlyCrossAttention: boolean;
  useLinearProjection: boolean;
  upcastAttention: boolean;
  downsamplePadding: number;
  midBlockScaleFactor: number;
  actFn: string;
  normNumGroups: number;
  normEps: number;
  resnetTimeScaleShift: 'default' | 'scale_shift';
  resnetSkipTimeAct: boolean;
  resnetOutScaleFactor: number;
  convInKernel: number;
  convOutKernel: number;
  timeEmbeddingType: 'positional';
  /** `time_embedding_dim or block_out_channels[0] * 4`. */
  timeEmbedDim: number;
  /** Input width of `time_embedding.linear_1` (`block_out_channels[0]` for positional). */
  timestepInputDim: number;
  timeEmbeddingActFn: string | null;
  timestepPostAct: string | null;
  timeCondProjDim: number | null;
  additionEmbedType: 'text_time' | null;
  additionTimeEmbedDim: number | null;
  projectionClassEmbeddingsInputDim: number | null;
  downBlocks: UNetDownBlock[];
  midBlock: UNetMidBlock | null;
  upBlocks: UNetUpBlock[];
}

const DEFAULT_DOWN: DownBlockType[] = [
  'CrossAttnDownBlock2D',
  'CrossAttnDownBlock2D',
  'CrossAttnDownBlock2D',
  'DownBlock2D',
];
const DEFAULT_UP: UpBlockType[] = [
  'UpBlock2D',
  'CrossAttnUpBlock2D',
  'CrossAttnUpBlock2D',
  'CrossAttnUpBlock2D',
];

function blockTypes<T extends string>(src: ConfigSource, key: string, dflt: T[], allowed: readonly T[]): T[] {
  const list = strList(src, key, dflt);
  for (const t of list) {
    if (!(allowed as readonly string[]).includes(t)) {
      throw unsupported(src, key, `block type '${t}'; supported: ${allowed.join(', ')}`);
    }
  }
  return list as T[];
}

/** `int | int[]` per block, each entry possibly a per-layer list. */
function perBlockPerLayer(src: ConfigSource, key: string, dflt: number, layers: number[]): number[][] {
  const v = src.json[key];
  const n = layers.length;
  if (v === undefined || v === null || typeof v === 'number') {
    const x = v === undefined || v === null ? dflt : int(src, key, dflt);
    return layers.map((l) => new Array<number>(l).fill(x));
  }
  if (!Array.isArray(v) || v.length !== n) {
    throw invalidField(src, key, `an integer or a list of ${n} entries (one per block)`);
  }
  return v.map((entry, i) => {
    const l = layers[i] ?? 0;
    if (Number.isInteger(entry)) return new Array<number>(l).fill(entry as number);
    if (Array.isArray(entry) && entry.every((x) => Number.isInteger(x))) return [...(entry as number[])];
    throw invalidField(src, key, 'integers or lists of integers');
  });
}

function refuseIfSet(src: ConfigSource, key: string, why: string): void {
  const v = src.json[key];
  if (v !== undefined && v !== null && v !== false) throw unsupported(src, key, why);
}

export function parseUNetConfig(json: unknown, file = 'unet/config.json'): UNetConfig {
  const src: ConfigSource = { json: asConfigObject(json, file), file };
  if (src.json.num_attention_heads !== undefined && src.json.num_attention_heads !== null) {
    throw new LorafuseError(
      'config-invalid',
      `${file}: 'num_attention_heads' is set; diffusers' UNet2DConditionModel refuses it (issue #2011) and reads 'attention_head_dim' as the number of heads. Remove 'num_attention_heads'.`,
      { file, key: 'num_attention_heads' },
    );
  }
  refuseIfSet(src, 'class_embed_type', 'class embeddings are not used by SD1.x/SD2.x/SDXL');
  refuseIfSet(src, 'num_class_embeds', 'class embeddings are not used by SD1.x/SD2.x/SDXL');
  refuseIfSet(src, 'encoder_hid_dim_type', 'encoder_hid_proj is not used by SD1.x/SD2.x/SDXL');
  refuseIfSet(src, 'dual_cross_attention', 'dual cross attention is not used by SD1.x/SD2.x/SDXL');
  refuseIfSet(src, 'class_embeddings_concat', 'class embeddings are not used by SD1.x/SD2.x/SDXL');
  const attentionType = str(src, 'attention_type', 'default');
  if (attentionType !== 'default') throw unsupported(src, 'attention_type', "only 'default' attention");
  const timeEmbeddingType = str(src, 'time_embedding_type', 'positional');
  if (timeEmbeddingType !== 'positional') throw unsupported(src, 'time_embedding_type', "only 'positional'");
  const additionEmbedType = optStr(src, 'addition_embed_type');
  if (additionEmbedType !== null && additionEmbedType !== 'text_time') {
    throw unsupported(src, 'addition_embed_type', "only null or 'text_time' (SDXL)");
  }
  const shift = str(src, 'resnet_time_scale_shift', 'default');
  if (shift !== 'default' && shift !== 'scale_shift') {
    throw unsupported(src, 'resnet_time_scale_shift', "only 'default' or 'scale_shift'");
  }
  if (additionEmbedType === 'text_time') {
    for (const key of ['addition_time_embed_dim', 'projection_class_embeddings_input_dim']) {
      if (optInt(src, key) === null) {
        throw new LorafuseError(
          'config-invalid',
          `${file}: addition_embed_type 'text_time' needs '${key}'.`,
          {
            file,
            key,
          },
        );
      }
    }
  }
  if (src.json.norm_num_groups === null)
    throw unsupported(src, 'norm_num_groups', 'a UNet without GroupNorm');

  const downBlockTypes = blockTypes(src, 'down_block_types', DEFAULT_DOWN, [
    'CrossAttnDownBlock2D',
    'DownBlock2D',
  ] as const);
  const upBlockTypes = blockTypes(src, 'up_block_types', DEFAULT_UP, [
    'CrossAttnUpBlock2D',
    'UpBlock2D',
  ] as const);
  const midRaw =
    src.json.mid_block_type === null ? null : str(src, 'mid_block_type', 'UNetMidBlock2DCrossAttn');
  if (midRaw !== null && midRaw !== 'UNetMidBlock2DCrossAttn' && midRaw !== 'UNetMidBlock2D') {
    throw unsupported(src, 'mid_block_type', "only 'UNetMidBlock2DCrossAttn' or 'UNetMidBlock2D'");
  }
  const midBlockType = midRaw as MidBlockType | null;
  const n = downBlockTypes.length;
  const blockOutChannels = intList(src, 'block_out_channels', [320, 640, 1280, 1280]);
  if (blockOutChannels.length !== n || upBlockTypes.length !== n) {
    throw new LorafuseError(
      'config-invalid',
      `${file}: 'block_out_channels' (${blockOutChannels.length}), 'down_block_types' (${n}) and 'up_block_types' (${upBlockTypes.length}) must have the same length.`,
      { file },
    );
  }
  const layersPerBlock = intPerBlock(src, 'layers_per_block', 2, n);
  const transformerLayersPerBlock = perBlockPerLayer(src, 'transformer_layers_per_block', 1, layersPerBlock);
  const reversedLayers = [...layersPerBlock].reverse().map((l) => l + 1);
  let reverseTransformerLayersPerBlock: number[][];
  if (src.json.reverse_transformer_layers_per_block != null) {
    reverseTransformerLayersPerBlock = perBlockPerLayer(
      src,
      'reverse_transformer_layers_per_block',
      1,
      reversedLayers,
    );
  } else {
    const tl = src.json.transformer_layers_per_block;
    if (Array.isArray(tl) && tl.some((x) => Array.isArray(x))) {
      throw new LorafuseError(
        'config-invalid',
        `${file}: 'transformer_layers_per_block' has per-layer lists; diffusers then requires 'reverse_transformer_layers_per_block'.`,
        { file, key: 'reverse_transformer_layers_per_block' },
      );
    }
    // diffusers: list(reversed(transformer_layers_per_block)), each int broadcast over the up block's layers.
    reverseTransformerLayersPerBlock = [...transformerLayersPerBlock]
      .reverse()
      .map((perLayer, i) => new Array<number>(reversedLayers[i] ?? 0).fill(perLayer[0] ?? 1));
  }
  const crossAttentionDim = intPerBlock(src, 'cross_attention_dim', 1280, n);
  const numAttentionHeads = intPerBlock(src, 'attention_head_dim', 8, n);
  const onlyCrossRaw = src.json.only_cross_attention;
  const onlyCrossAttention = boolPerBlock(src, 'only_cross_attention', false, n);
  let midBlockOnlyCrossAttention = false;
  if (src.json.mid_block_only_cross_attention != null) {
    midBlockOnlyCrossAttention = bool(src, 'mid_block_only_cross_attention', false);
  } else if (typeof onlyCrossRaw === 'boolean') {
    midBlockOnlyCrossAttention = onlyCrossRaw;
  }
  const useLinearProjection = bool(src, 'use_linear_projection', false);
  const upcastAttention = bool(src, 'upcast_attention', false);
  const timeEmbedDim = optInt(src, 'time_embedding_dim') ?? (blockOutChannels[0] ?? 0) * 4;

  const spec = (
    channels: number,
    heads: number,
    depth: number,
    cross: number,
    only: boolean,
  ): TransformerSpec => {
    const headDim = Math.floor(channels / heads);
    return {
      numHeads: heads,
      headDim,
      innerDim: heads * headDim,
      depth,
      crossAttentionDim: cross,
      onlyCrossAttention: only,
      useLinearProjection,
      upcastAttention,
    };
  };

  const downBlocks: UNetDownBlock[] = [];
  let outCh = blockOutChannels[0] ?? 0;
  for (let i = 0; i < n; i++) {
    const inCh = outCh;
    outCh = blockOutChannels[i] ?? 0;
    const type = downBlockTypes[i] as DownBlockType;
    const hasAttention = type === 'CrossAttnDownBlock2D';
    const numLayers = layersPerBlock[i] ?? 0;
    const depths = transformerLayersPerBlock[i] ?? [];
    downBlocks.push({
      index: i,
      type,
      hasAttention,
      inChannels: inCh,
      outChannels: outCh,
      numLayers,
      transformers: hasAttention
        ? depths.map((d) =>
            spec(
              outCh,
              numAttentionHeads[i] ?? 1,
              d,
              crossAttentionDim[i] ?? 0,
              onlyCrossAttention[i] ?? false,
            ),
          )
        : [],
      addDownsample: i !== n - 1,
    });
  }

  const last = n - 1;
  const midChannels = blockOutChannels[last] ?? 0;
  let midBlock: UNetMidBlock | null = null;
  if (midBlockType === 'UNetMidBlock2DCrossAttn') {
    const depth = transformerLayersPerBlock[last]?.[0] ?? 1;
    midBlock = {
      type: midBlockType,
      channels: midChannels,
      transformers: [
        spec(midChannels, numAttentionHeads[last] ?? 1, depth, crossAttentionDim[last] ?? 0, false),
      ],
      numResnets: 2,
      scaleFactor: num(src, 'mid_block_scale_factor', 1),
    };
  } else if (midBlockType === 'UNetMidBlock2D') {
    midBlock = {
      type: midBlockType,
      channels: midChannels,
      transformers: [],
      numResnets: 1,
      scaleFactor: num(src, 'mid_block_scale_factor', 1),
    };
  }

  const rev = [...blockOutChannels].reverse();
  const revHeads = [...numAttentionHeads].reverse();
  const revCross = [...crossAttentionDim].reverse();
  const revOnly = [...onlyCrossAttention].reverse();
  const upBlocks: UNetUpBlock[] = [];
  let upOut = rev[0] ?? 0;
  for (let i = 0; i < n; i++) {
    const prev = upOut;
    upOut = rev[i] ?? 0;
    const inCh = rev[Math.min(i + 1, n - 1)] ?? 0;
    const type = upBlockTypes[i] as UpBlockType;
    const hasAttention = type === 'CrossAttnUpBlock2D';
    const numLayers = reversedLayers[i] ?? 0;
    const resnetInChannels: number[] = [];
    for (let j = 0; j < numLayers; j++) {
      const skip = j === numLayers - 1 ? inCh : upOut;
      const resIn = j === 0 ? prev : upOut;
      resnetInChannels.push(resIn + skip);
    }
    const depths = reverseTransformerLayersPerBlock[i] ?? [];
    upBlocks.push({
      index: i,
      type,
      hasAttention,
      inChannels: inCh,
      outChannels: upOut,
      prevOutputChannels: prev,
      numLayers,
      transformers: hasAttention
        ? depths.map((d) => spec(upOut, revHeads[i] ?? 1, d, revCross[i] ?? 0, revOnly[i] ?? false))
        : [],
      addUpsample: i !== n - 1,
      resnetInChannels,
    });
  }

  const sampleSizeRaw = src.json.sample_size;
  const sampleSize =
    sampleSizeRaw === undefined || sampleSizeRaw === null
      ? null
      : Array.isArray(sampleSizeRaw)
        ? intList(src, 'sample_size', [])
        : int(src, 'sample_size', 0);

  return {
    file,
    sampleSize,
    inChannels: int(src, 'in_channels', 4),
    outChannels: int(src, 'out_channels', 4),
    centerInputSample: bool(src, 'center_input_sample', false),
    flipSinToCos: bool(src, 'flip_sin_to_cos', true),
    freqShift: num(src, 'freq_shift', 0),
    downBlockTypes,
    upBlockTypes,
    midBlockType,
    blockOutChannels,
    layersPerBlock,
    transformerLayersPerBlock,
    reverseTransformerLayersPerBlock,
    crossAttentionDim,
    numAttentionHeads,
    onlyCrossAttention,
    midBlockOnlyCrossAttention,
    useLinearProjection,
    upcastAttention,
    downsamplePadding: int(src, 'downsample_padding', 1),
    midBlockScaleFactor: num(src, 'mid_block_scale_factor', 1),
    actFn: str(src, 'act_fn', 'silu'),
    normNumGroups: int(src, 'norm_num_groups', 32),
    normEps: num(src, 'norm_eps', 1e-5),
    resnetTimeScaleShift: shift,
    resnetSkipTimeAct: bool(src, 'resnet_skip_time_act', false),
    resnetOutScaleFactor: num(src, 'resnet_out_scale_factor', 1),
    convInKernel: int(src, 'conv_in_kernel', 3),
    convOutKernel: int(src, 'conv_out_kernel', 3),
    timeEmbeddingType: 'positional',
    timeEmbedDim,
    timestepInputDim: blockOutChannels[0] ?? 0,
    timeEmbeddingActFn: optStr(src, 'time_embedding_act_fn'),
    timestepPostAct: optStr(src, 'timestep_post_act'),
    timeCondProjDim: optInt(src, 'time_cond_proj_dim'),
    additionEmbedType: additionEmbedType as 'text_time' | null,
    additionTimeEmbedDim: optInt(src, 'addition_time_embed_dim'),
    projectionClassEmbeddingsInputDim: optInt(src, 'projection_class_embeddings_input_dim'),
    downBlocks,
    midBlock,
    upBlocks,
  };
}
