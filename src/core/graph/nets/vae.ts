/**
 * diffusers' `AutoencoderKL.decode` as an ONNX graph: `post_quant_conv`, then the `Decoder`
 * (conv_in, mid block with attention, up blocks, GroupNorm + SiLU + conv_out).
 *
 * Input `latent_sample` float32 [batch, latent_channels, height, width], without
 * `scaling_factor` (the caller divides first, as diffusers' pipelines do). Output `sample`
 * [batch, out_channels, 8 * height, 8 * width] (2^(blocks - 1) in general), range about [-1, 1].
 */
import { LorafuseError } from '../../../errors.ts';
import type { VaeConfig } from '../config/vae-config.ts';
import type { GraphDef, WeightDType } from '../dsl/builder.ts';
import { GraphBuilder } from '../dsl/builder.ts';
import { spatialSelfAttention } from './attention.ts';
import { activation, conv, groupNorm } from './layers.ts';
import { resnetBlock2D, upsample2D } from './resnet.ts';

export const VAE_DECODER_INPUT = 'latent_sample';

/** The VAE's resnets and attention use eps 1e-6 everywhere. */
const EPS = 1e-6;

export function buildVaeDecoderGraph(cfg: VaeConfig, options: { weightDType?: WeightDType } = {}): GraphDef {
  if (cfg.actFn !== 'silu') {
    throw new LorafuseError(
      'not-implemented',
      `${cfg.file}: act_fn '${cfg.actFn}' is not supported (only silu).`,
      {
        file: cfg.file,
      },
    );
  }
  const g = new GraphBuilder('AutoencoderKL.decode', options);
  const groups = cfg.normNumGroups;
  const top = cfg.blockOutChannels[cfg.blockOutChannels.length - 1]!;
  const latent = g.input(VAE_DECODER_INPUT, 'float32', ['batch', cfg.latentChannels, 'height', 'width']);
  const c = cfg.latentChannels;
  let h = cfg.usePostQuantConv
    ? conv(g, latent, 'post_quant_conv', { inChannels: c, outChannels: c, kernel: 1 })
    : latent;

  h = g.scope('decoder', () => {
    let x = conv(g, h, 'conv_in', { inChannels: c, outChannels: top, kernel: 3 });
    const res = { inChannels: top, outChannels: top, groups, eps: EPS, tembChannels: null };
    x = g.scope('mid_block', () => {
      let m = g.scope('resnets.0', () => resnetBlock2D(g, x, null, res));
      if (cfg.midBlockAddAttention)
        m = g.scope('attentions.0', () => spatialSelfAttention(g, m, top, groups, EPS));
      return g.scope('resnets.1', () => resnetBlock2D(g, m, null, res));
    });
    for (const block of cfg.decoderBlocks) {
      x = g.scope(`up_blocks.${block.index}`, () => {
        let u = x;
        for (let j = 0; j < block.numLayers; j++) {
          const spec = {
            inChannels: j === 0 ? block.inChannels : block.outChannels,
            outChannels: block.outChannels,
            groups,
            eps: EPS,
            tembChannels: null,
          };
          u = g.scope(`resnets.${j}`, () => resnetBlock2D(g, u, null, spec));
        }
        if (block.addUpsample) u = g.scope('upsamplers.0', () => upsample2D(g, u, block.outChannels, null));
        return u;
      });
    }
    const bottom = cfg.blockOutChannels[0]!;
    x = activation(g, groupNorm(g, x, 'conv_norm_out', groups, bottom, EPS), 'silu');
    return conv(g, x, 'conv_out', { inChannels: bottom, outChannels: cfg.outChannels, kernel: 3 });
  });
  g.output(h, 'sample');
  return g.finish();
}
