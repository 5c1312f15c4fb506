/** Module inventory of a diffusers `UNet2DConditionModel`, mirroring its constructor. */
import { type ComponentInventory, InventoryBuilder } from './inventory.ts';
import type { TransformerSpec, UNetConfig } from './unet-config.ts';

/** `ResnetBlock2D`: norm1, conv1, time_emb_proj (when temb), norm2, conv2, conv_shortcut (in != out). */
export function resnetModules(
  b: InventoryBuilder,
  inCh: number,
  outCh: number,
  tembChannels: number | null,
  timeEmbOut = outCh,
): void {
  b.norm('norm1', inCh);
  b.conv('conv1', inCh, outCh, 3);
  if (tembChannels !== null) b.linear('time_emb_proj', tembChannels, timeEmbOut);
  b.norm('norm2', outCh);
  b.conv('conv2', outCh, outCh, 3);
  if (inCh !== outCh) b.conv('conv_shortcut', inCh, outCh, 1);
}

/** `Transformer2DModel` (continuous input) with `BasicTransformerBlock`s and GEGLU feed-forward. */
function transformerModules(b: InventoryBuilder, channels: number, t: TransformerSpec): void {
  const inner = t.innerDim;
  b.norm('norm', channels);
  if (t.useLinearProjection) b.linear('proj_in', channels, inner);
  else b.conv('proj_in', channels, inner, 1);
  for (let d = 0; d < t.depth; d++) {
    const tb = b.scope(`transformer_blocks.${d}`);
    tb.norm('norm1', inner);
    const selfKv = t.onlyCrossAttention ? t.crossAttentionDim : inner;
    attentionModules(tb.scope('attn1'), inner, selfKv);
    tb.norm('norm2', inner);
    attentionModules(tb.scope('attn2'), inner, t.crossAttentionDim);
    tb.norm('norm3', inner);
    const ffInner = inner * 4;
    tb.linear('ff.net.0.proj', inner, ffInner * 2);
    tb.linear('ff.net.2', ffInner, inner);
  }
  if (t.useLinearProjection) b.linear('proj_out', inner, channels);
  else b.conv('proj_out', inner, channels, 1);
}

/** diffusers `Attention` as used in transformer blocks: q/k/v without bias, to_out.0 with bias. */
function attentionModules(b: InventoryBuilder, queryDim: number, kvDim: number): void {
  b.linear('to_q', queryDim, queryDim, false);
  b.linear('to_k', kvDim, queryDim, false);
  b.linear('to_v', kvDim, queryDim, false);
  b.linear('to_out.0', queryDim, queryDim);
}

export function unetInventory(cfg: UNetConfig): ComponentInventory {
  const b = new InventoryBuilder();
  const c0 = cfg.blockOutChannels[0] ?? 0;
  const temb = cfg.timeEmbedDim;
  const tembOut = (out: number) => (cfg.resnetTimeScaleShift === 'scale_shift' ? out * 2 : out);

  b.conv('conv_in', cfg.inChannels, c0, cfg.convInKernel);
  const te = b.scope('time_embedding');
  te.linear('linear_1', cfg.timestepInputDim, temb);
  if (cfg.timeCondProjDim !== null) te.linear('cond_proj', cfg.timeCondProjDim, cfg.timestepInputDim, false);
  te.linear('linear_2', temb, temb);
  if (cfg.additionEmbedType === 'text_time') {
    const ae = b.scope('add_embedding');
    ae.linear('linear_1', cfg.projectionClassEmbeddingsInputDim ?? 0, temb);
    ae.linear('linear_2', temb, temb);
  }

  for (const blk of cfg.downBlocks) {
    const db = b.scope(`down_blocks.${blk.index}`);
    for (let j = 0; j < blk.numLayers; j++) {
      const inCh = j === 0 ? blk.inChannels : blk.outChannels;
      resnetModules(db.scope(`resnets.${j}`), inCh, blk.outChannels, temb, tembOut(blk.outChannels));
    }
    blk.transformers.forEach((t, j) => {
      transformerModules(db.scope(`attentions.${j}`), blk.outChannels, t);
    });
    if (blk.addDownsample) db.conv('downsamplers.0.conv', blk.outChannels, blk.outChannels, 3);
  }

  const mid = cfg.midBlock;
  if (mid) {
    const mb = b.scope('mid_block');
    for (let r = 0; r < mid.numResnets; r++) {
      resnetModules(mb.scope(`resnets.${r}`), mid.channels, mid.channels, temb, tembOut(mid.channels));
    }
    mid.transformers.forEach((t, j) => {
      transformerModules(mb.scope(`attentions.${j}`), mid.channels, t);
    });
  }

  for (const blk of cfg.upBlocks) {
    const ub = b.scope(`up_blocks.${blk.index}`);
    blk.resnetInChannels.forEach((inCh, j) => {
      resnetModules(ub.scope(`resnets.${j}`), inCh, blk.outChannels, temb, tembOut(blk.outChannels));
    });
    blk.transformers.forEach((t, j) => {
      transformerModules(ub.scope(`attentions.${j}`), blk.outChannels, t);
    });
    if (blk.addUpsample) ub.conv('upsamplers.0.conv', blk.outChannels, blk.outChannels, 3);
  }

  b.norm('conv_norm_out', c0);
  b.conv('conv_out', c0, cfg.outChannels, cfg.convOutKernel);
  return b.build();
}
