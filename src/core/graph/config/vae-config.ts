/**
 * Typed diffusers `AutoencoderKL` config, with diffusers' defaults and resolved decoder blocks.
 */
import { LorafuseError } from '../../../errors.ts';
import {
  asConfigObject,
  bool,
  type ConfigSource,
  int,
  intList,
  num,
  optInt,
  str,
  strList,
  unsupported,
} from './json-fields.ts';

export interface VaeDecoderUpBlock {
  index: number;
  inChannels: number;
  outChannels: number;
  /** `layers_per_block + 1` resnets. */
  numLayers: number;
  addUpsample: boolean;
}

export interface VaeEncoderDownBlock {
  index: number;
  inChannels: number;
  outChannels: number;
  numLayers: number;
  addDownsample: boolean;
}

export interface VaeConfig {
  file: string;
  inChannels: number;
  outChannels: number;
  latentChannels: number;
  blockOutChannels: number[];
  downBlockTypes: string[];
  upBlockTypes: string[];
  layersPerBlock: number;
  actFn: string;
  normNumGroups: number;
  sampleSize: number | null;
  scalingFactor: number;
  shiftFactor: number | null;
  forceUpcast: boolean;
  useQuantConv: boolean;
  usePostQuantConv: boolean;
  midBlockAddAttention: boolean;
  encoderBlocks: VaeEncoderDownBlock[];
  decoderBlocks: VaeDecoderUpBlock[];
}

export function parseVaeConfig(json: unknown, file = 'vae/config.json'): VaeConfig {
  const src: ConfigSource = { json: asConfigObject(json, file), file };
  const downBlockTypes = strList(src, 'down_block_types', ['DownEncoderBlock2D']);
  const upBlockTypes = strList(src, 'up_block_types', ['UpDecoderBlock2D']);
  for (const t of downBlockTypes) {
    if (t !== 'DownEncoderBlock2D') throw unsupported(src, 'down_block_types', `block type '${t}'`);
  }
  for (const t of upBlockTypes) {
    if (t !== 'UpDecoderBlock2D') throw unsupported(src, 'up_block_types', `block type '${t}'`);
  }
  const blockOutChannels = intList(src, 'block_out_channels', [64]);
  const n = blockOutChannels.length;
  if (downBlockTypes.length !== n || upBlockTypes.length !== n) {
    throw new LorafuseError(
      'config-invalid',
      `${file}: 'block_out_channels', 'down_block_types' and 'up_block_types' must have the same length.`,
      { file },
    );
  }
  const layersPerBlock = int(src, 'layers_per_block', 1);
  const encoderBlocks: VaeEncoderDownBlock[] = [];
  let out = blockOutChannels[0] ?? 0;
  for (let i = 0; i < n; i++) {
    const inCh = out;
    out = blockOutChannels[i] ?? 0;
    encoderBlocks.push({
      index: i,
      inChannels: inCh,
      outChannels: out,
      numLayers: layersPerBlock,
      addDownsample: i !== n - 1,
    });
  }
  const rev = [...blockOutChannels].reverse();
  const decoderBlocks: VaeDecoderUpBlock[] = [];
  out = rev[0] ?? 0;
  for (let i = 0; i < n; i++) {
    const prev = out;
    out = rev[i] ?? 0;
    decoderBlocks.push({
      index: i,
      inChannels: prev,
      outChannels: out,
      numLayers: layersPerBlock + 1,
      addUpsample: i !== n - 1,
    });
  }
  const shift = src.json.shift_factor;
  return {
    file,
    inChannels: int(src, 'in_channels', 3),
    outChannels: int(src, 'out_channels', 3),
    latentChannels: int(src, 'latent_channels', 4),
    blockOutChannels,
    downBlockTypes,
    upBlockTypes,
    layersPerBlock,
    actFn: str(src, 'act_fn', 'silu'),
    normNumGroups: int(src, 'norm_num_groups', 32),
    sampleSize: optInt(src, 'sample_size'),
    scalingFactor: num(src, 'scaling_factor', 0.18215),
    shiftFactor: shift === undefined || shift === null ? null : num(src, 'shift_factor', 0),
    forceUpcast: bool(src, 'force_upcast', true),
    useQuantConv: bool(src, 'use_quant_conv', true),
    usePostQuantConv: bool(src, 'use_post_quant_conv', true),
    midBlockAddAttention: bool(src, 'mid_block_add_attention', true),
    encoderBlocks,
    decoderBlocks,
  };
}
