/**
 * diffusers' `UNet2DConditionModel` as an ONNX graph, for SD1.x (conv projections), SD2.x (linear
 * projections, per-block head counts) and SDXL (`transformer_layers_per_block`, `text_time` added
 * conditioning). Channel counts, head counts and depths come resolved from `parseUNetConfig`.
 *
 * Inputs (batch and latent size are dynamic):
 * - `sample` float32 [batch, in_channels, height, width]
 * - `timestep` float32 [timestep_batch] (1 or batch)
 * - `encoder_hidden_states` float32 [batch, sequence, cross_attention_dim]
 * - SDXL only: `text_embeds` float32 [batch, pooled_dim], `time_ids` float32 [batch, 6]
 * Output `out_sample` [batch, out_channels, height, width].
 */
import { LorafuseError } from '../../../errors.ts';
import type { TransformerSpec, UNetConfig } from '../config/unet-config.ts';
import type { GraphDef, Value, WeightDType } from '../dsl/builder.ts';
import { GraphBuilder } from '../dsl/builder.ts';
import { add, concat, mul, reshape, scalar, sub } from '../dsl/ops.ts';
import { type Transformer2DSpec, transformer2D } from './attention.ts';
import { timestepEmbedding, timestepProjection } from './embeddings.ts';
import { activation, conv, groupNorm } from './layers.ts';
import { downsample2D, type ResnetSpec, resnetBlock2D, upsample2D } from './resnet.ts';

export const UNET_INPUTS = {
  sample: 'sample',
  timestep: 'timestep',
  encoderHiddenStates: 'encoder_hidden_states',
  textEmbeds: 'text_embeds',
  timeIds: 'time_ids',
} as const;

/** SDXL's `time_ids`: original size, crop top-left, target size. */
const NUM_TIME_IDS = 6;

function refuseUnsupported(cfg: UNetConfig): void {
  const refuse = (key: string, why: string) => {
    throw new LorafuseError(
      'not-implemented',
      `${cfg.file}: ${key} is not supported by the graph builder (${why}).`,
      {
        file: cfg.file,
        key,
      },
    );
  };
  if (cfg.actFn !== 'silu') refuse('act_fn', `'${cfg.actFn}'; SD uses silu`);
  if (cfg.resnetTimeScaleShift !== 'default') refuse('resnet_time_scale_shift', "only 'default'");
  if (cfg.resnetSkipTimeAct) refuse('resnet_skip_time_act', 'SD does not use it');
  if (cfg.timeCondProjDim !== null) refuse('time_cond_proj_dim', 'LCM-distilled guidance embedding');
  if (cfg.timeEmbeddingActFn !== null) refuse('time_embedding_act_fn', 'SD does not use it');
  if (cfg.timestepPostAct !== null) refuse('timestep_post_act', 'SD does not use it');
  if (cfg.midBlockType !== 'UNetMidBlock2DCrossAttn')
    refuse('mid_block_type', 'only UNetMidBlock2DCrossAttn');
  if (new Set(cfg.crossAttentionDim).size !== 1) refuse('cross_attention_dim', 'per-block widths');
}

export function buildUNetGraph(cfg: UNetConfig, options: { weightDType?: WeightDType } = {}): GraphDef {
  refuseUnsupported(cfg);
  const g = new GraphBuilder('UNet2DConditionModel', options);
  const groups = cfg.normNumGroups;
  const eps = cfg.normEps;
  const tembDim = cfg.timeEmbedDim;
  const crossDim = cfg.crossAttentionDim[0]!;

  let sample = g.input(UNET_INPUTS.sample, 'float32', ['batch', cfg.inChannels, 'height', 'width']);
  const timestep = g.input(UNET_INPUTS.timestep, 'float32', ['timestep_batch']);
  const context = g.input(UNET_INPUTS.encoderHiddenStates, 'float32', ['batch', 'sequence', crossDim]);

  // 1. time (and SDXL's text_time) embedding
  const tProj = timestepProjection(g, timestep, cfg.timestepInputDim, cfg.flipSinToCos, cfg.freqShift);
  let temb = g.scope('time_embedding', () =>
    timestepEmbedding(g, tProj, cfg.timestepInputDim, tembDim, cfg.actFn),
  );
  if (cfg.additionEmbedType === 'text_time') {
    const addDim = cfg.additionTimeEmbedDim!;
    const projIn = cfg.projectionClassEmbeddingsInputDim!;
    const textDim = projIn - NUM_TIME_IDS * addDim;
    const textEmbeds = g.input(UNET_INPUTS.textEmbeds, 'float32', ['batch', textDim]);
    const timeIds = g.input(UNET_INPUTS.timeIds, 'float32', ['batch', NUM_TIME_IDS]);
    const idsProj = timestepProjection(g, reshape(g, timeIds, [-1]), addDim, cfg.flipSinToCos, cfg.freqShift);
    const addEmbeds = concat(g, [textEmbeds, reshape(g, idsProj, [-1, NUM_TIME_IDS * addDim])], -1);
    temb = add(
      g,
      temb,
      g.scope('add_embedding', () => timestepEmbedding(g, addEmbeds, projIn, tembDim, 'silu')),
    );
  }

  // 2. pre-process
  if (cfg.centerInputSample) sample = sub(g, mul(g, sample, scalar(g, 2)), scalar(g, 1));
  const c0 = cfg.blockOutChannels[0]!;
  let h = conv(g, sample, 'conv_in', {
    inChannels: cfg.inChannels,
    outChannels: c0,
    kernel: cfg.convInKernel,
  });

  const resnet = (x: Value, inChannels: number, outChannels: number, scale: number) =>
    resnetBlock2D(g, x, temb, {
      inChannels,
      outChannels,
      groups,
      eps,
      tembChannels: tembDim,
      outputScaleFactor: scale,
    } satisfies ResnetSpec);
  const transformer = (x: Value, t: TransformerSpec, channels: number) =>
    transformer2D(g, x, context, {
      channels,
      heads: t.numHeads,
      headDim: t.headDim,
      depth: t.depth,
      crossAttentionDim: t.crossAttentionDim,
      onlyCrossAttention: t.onlyCrossAttention,
      useLinearProjection: t.useLinearProjection,
      groups,
    } satisfies Transformer2DSpec);

  // 3. down
  const skips: Value[] = [h];
  for (const block of cfg.downBlocks) {
    h = g.scope(`down_blocks.${block.index}`, () => {
      let x = h;
      for (let j = 0; j < block.numLayers; j++) {
        const inCh = j === 0 ? block.inChannels : block.outChannels;
        x = g.scope(`resnets.${j}`, () => resnet(x, inCh, block.outChannels, cfg.resnetOutScaleFactor));
        if (block.hasAttention) {
          x = g.scope(`attentions.${j}`, () => transformer(x, block.transformers[j]!, block.outChannels));
        }
        skips.push(x);
      }
      if (block.addDownsample) {
        x = g.scope('downsamplers.0', () => downsample2D(g, x, block.outChannels, cfg.downsamplePadding));
        skips.push(x);
      }
      return x;
    });
  }

  // 4. mid
  const mid = cfg.midBlock!;
  h = g.scope('mid_block', () => {
    let x = g.scope('resnets.0', () => resnet(h, mid.channels, mid.channels, mid.scaleFactor));
    x = g.scope('attentions.0', () => transformer(x, mid.transformers[0]!, mid.channels));
    return g.scope('resnets.1', () => resnet(x, mid.channels, mid.channels, mid.scaleFactor));
  });

  // 5. up: each resnet takes the next skip connection, last in first out
  for (const block of cfg.upBlocks) {
    h = g.scope(`up_blocks.${block.index}`, () => {
      let x = h;
      for (let j = 0; j < block.numLayers; j++) {
        const skip = skips.pop()!;
        x = concat(g, [x, skip], 1);
        x = g.scope(`resnets.${j}`, () =>
          resnet(x, block.resnetInChannels[j]!, block.outChannels, cfg.resnetOutScaleFactor),
        );
        if (block.hasAttention) {
          x = g.scope(`attentions.${j}`, () => transformer(x, block.transformers[j]!, block.outChannels));
        }
      }
      if (block.addUpsample) {
        // Upsample to the size of the skip connection it meets next (diffusers' `upsample_size`).
        const next = skips[skips.length - 1]!;
        x = g.scope('upsamplers.0', () => upsample2D(g, x, block.outChannels, next));
      }
      return x;
    });
  }

  // 6. post-process
  h = activation(g, groupNorm(g, h, 'conv_norm_out', groups, c0, eps), cfg.actFn);
  h = conv(g, h, 'conv_out', { inChannels: c0, outChannels: cfg.outChannels, kernel: cfg.convOutKernel });
  g.output(h, 'out_sample');
  return g.finish();
}
