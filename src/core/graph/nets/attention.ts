/**
 * diffusers' attention modules (attention_processor.py, attention.py, transformer_2d.py) as graph
 * functions: `Attention`, the GEGLU `FeedForward`, `BasicTransformerBlock` and the continuous-input
 * `Transformer2DModel`.
 */
import type { GraphBuilder, Value } from '../dsl/builder.ts';
import { add, mul, split } from '../dsl/ops.ts';
import {
  conv,
  gelu,
  groupNorm,
  imageToTokens,
  layerNorm,
  linear,
  multiHeadAttention,
  tokensToImage,
} from './layers.ts';

export interface AttentionSpec {
  readonly queryDim: number;
  /** Width of the key/value source (`cross_attention_dim`); `queryDim` for self-attention. */
  readonly kvDim: number;
  readonly heads: number;
  readonly headDim: number;
  /** Bias on `to_q`/`to_k`/`to_v` (`attention_bias`; the VAE's attention has it). */
  readonly qkvBias: boolean;
}

/** `Attention` with the default processor, no residual: `to_out.0(attn(to_q(x), to_k(ctx), to_v(ctx)))`. */
export function attention(g: GraphBuilder, x: Value, context: Value | null, spec: AttentionSpec): Value {
  const inner = spec.heads * spec.headDim;
  const src = context ?? x;
  const q = linear(g, x, 'to_q', spec.queryDim, inner, spec.qkvBias);
  const k = linear(g, src, 'to_k', spec.kvDim, inner, spec.qkvBias);
  const v = linear(g, src, 'to_v', spec.kvDim, inner, spec.qkvBias);
  const o = multiHeadAttention(g, q, k, v, spec.heads, spec.headDim);
  return g.scope('to_out', () => linear(g, o, '0', inner, spec.queryDim));
}

/**
 * The VAE mid-block `Attention` on an image (one head over all channels, GroupNorm first,
 * residual connection): `x + to_out(attn(group_norm(x)))`.
 */
export function spatialSelfAttention(
  g: GraphBuilder,
  x: Value,
  channels: number,
  groups: number,
  eps: number,
): Value {
  const tokens = imageToTokens(g, groupNorm(g, x, 'group_norm', groups, channels, eps));
  const spec: AttentionSpec = {
    queryDim: channels,
    kvDim: channels,
    heads: 1,
    headDim: channels,
    qkvBias: true,
  };
  return add(g, tokensToImage(g, attention(g, tokens, null, spec), x), x);
}

/** `FeedForward(dim, activation_fn='geglu')`: `net.2(h * gelu(gate))`, `[h, gate] = net.0.proj(x)`. */
export function geluGatedFeedForward(g: GraphBuilder, x: Value, dim: number, mult = 4): Value {
  const inner = dim * mult;
  return g.scope('net', () => {
    const proj = g.scope('0', () => linear(g, x, 'proj', dim, inner * 2));
    const [hidden, gate] = split(g, proj, [inner, inner], -1);
    return linear(g, mul(g, hidden!, gelu(g, gate!)), '2', inner, dim);
  });
}

export interface TransformerBlockSpec {
  readonly dim: number;
  readonly heads: number;
  readonly headDim: number;
  readonly crossAttentionDim: number;
  readonly onlyCrossAttention: boolean;
}

/** `BasicTransformerBlock` (norm_type 'layer_norm', eps 1e-5): self-attn, cross-attn, GEGLU FF. */
export function basicTransformerBlock(
  g: GraphBuilder,
  x: Value,
  context: Value,
  spec: TransformerBlockSpec,
): Value {
  const eps = 1e-5;
  const selfSpec: AttentionSpec = {
    queryDim: spec.dim,
    kvDim: spec.onlyCrossAttention ? spec.crossAttentionDim : spec.dim,
    heads: spec.heads,
    headDim: spec.headDim,
    qkvBias: false,
  };
  const crossSpec: AttentionSpec = { ...selfSpec, kvDim: spec.crossAttentionDim };
  let h = x;
  const n1 = layerNorm(g, h, 'norm1', spec.dim, eps);
  h = add(
    g,
    g.scope('attn1', () => attention(g, n1, spec.onlyCrossAttention ? context : null, selfSpec)),
    h,
  );
  const n2 = layerNorm(g, h, 'norm2', spec.dim, eps);
  h = add(
    g,
    g.scope('attn2', () => attention(g, n2, context, crossSpec)),
    h,
  );
  const n3 = layerNorm(g, h, 'norm3', spec.dim, eps);
  return add(
    g,
    g.scope('ff', () => geluGatedFeedForward(g, n3, spec.dim)),
    h,
  );
}

export interface Transformer2DSpec {
  readonly channels: number;
  readonly heads: number;
  readonly headDim: number;
  readonly depth: number;
  readonly crossAttentionDim: number;
  readonly onlyCrossAttention: boolean;
  readonly useLinearProjection: boolean;
  readonly groups: number;
}

/**
 * Continuous-input `Transformer2DModel`: GroupNorm (eps 1e-6), `proj_in` (1x1 conv or linear),
 * `depth` transformer blocks on [B, H*W, inner], `proj_out`, plus the input.
 */
export function transformer2D(g: GraphBuilder, x: Value, context: Value, spec: Transformer2DSpec): Value {
  const inner = spec.heads * spec.headDim;
  const normed = groupNorm(g, x, 'norm', spec.groups, spec.channels, 1e-6);
  let tokens = spec.useLinearProjection
    ? linear(g, imageToTokens(g, normed), 'proj_in', spec.channels, inner)
    : imageToTokens(
        g,
        conv(g, normed, 'proj_in', { inChannels: spec.channels, outChannels: inner, kernel: 1 }),
      );
  const block: TransformerBlockSpec = {
    dim: inner,
    heads: spec.heads,
    headDim: spec.headDim,
    crossAttentionDim: spec.crossAttentionDim,
    onlyCrossAttention: spec.onlyCrossAttention,
  };
  for (let i = 0; i < spec.depth; i++) {
    tokens = g.scope(`transformer_blocks.${i}`, () => basicTransformerBlock(g, tokens, context, block));
  }
  const out = spec.useLinearProjection
    ? tokensToImage(g, linear(g, tokens, 'proj_out', inner, spec.channels), x)
    : conv(g, tokensToImage(g, tokens, x), 'proj_out', {
        inChannels: inner,
        outChannels: spec.channels,
        kernel: 1,
      });
  return add(g, out, x);
}
