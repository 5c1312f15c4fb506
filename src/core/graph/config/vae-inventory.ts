/** Module inventory of a diffusers `AutoencoderKL` (encoder, decoder, quant convs). */
import { type ComponentInventory, InventoryBuilder } from './inventory.ts';
import { resnetModules } from './unet-inventory.ts';
import type { VaeConfig } from './vae-config.ts';

/** `UNetMidBlock2D` as the VAE builds it: resnet, single-head attention with group_norm, resnet. */
function vaeMidBlock(b: InventoryBuilder, channels: number, withAttention: boolean): void {
  resnetModules(b.scope('resnets.0'), channels, channels, null);
  if (withAttention) {
    const a = b.scope('attentions.0');
    a.norm('group_norm', channels);
    a.linear('to_q', channels, channels);
    a.linear('to_k', channels, channels);
    a.linear('to_v', channels, channels);
    a.linear('to_out.0', channels, channels);
  }
  resnetModules(b.scope('resnets.1'), channels, channels, null);
}

export function vaeInventory(cfg: VaeConfig): ComponentInventory {
  const b = new InventoryBuilder();
  const first = cfg.blockOutChannels[0] ?? 0;
  const last = cfg.blockOutChannels[cfg.blockOutChannels.length - 1] ?? 0;
  const latent = cfg.latentChannels;

  const enc = b.scope('encoder');
  enc.conv('conv_in', cfg.inChannels, first, 3);
  for (const blk of cfg.encoderBlocks) {
    const db = enc.scope(`down_blocks.${blk.index}`);
    for (let j = 0; j < blk.numLayers; j++) {
      resnetModules(
        db.scope(`resnets.${j}`),
        j === 0 ? blk.inChannels : blk.outChannels,
        blk.outChannels,
        null,
      );
    }
    if (blk.addDownsample) db.conv('downsamplers.0.conv', blk.outChannels, blk.outChannels, 3);
  }
  vaeMidBlock(enc.scope('mid_block'), last, cfg.midBlockAddAttention);
  enc.norm('conv_norm_out', last);
  enc.conv('conv_out', last, 2 * latent, 3);

  const dec = b.scope('decoder');
  dec.conv('conv_in', latent, last, 3);
  vaeMidBlock(dec.scope('mid_block'), last, cfg.midBlockAddAttention);
  for (const blk of cfg.decoderBlocks) {
    const ub = dec.scope(`up_blocks.${blk.index}`);
    for (let j = 0; j < blk.numLayers; j++) {
      resnetModules(
        ub.scope(`resnets.${j}`),
        j === 0 ? blk.inChannels : blk.outChannels,
        blk.outChannels,
        null,
      );
    }
    if (blk.addUpsample) ub.conv('upsamplers.0.conv', blk.outChannels, blk.outChannels, 3);
  }
  dec.norm('conv_norm_out', first);
  dec.conv('conv_out', first, cfg.outChannels, 3);

  if (cfg.useQuantConv) b.conv('quant_conv', 2 * latent, 2 * latent, 1);
  if (cfg.usePostQuantConv) b.conv('post_quant_conv', latent, latent, 1);
  return b.build();
}
