/**
 * torch.nn layers as graph functions. Each layer scopes its own name, so the weights it creates are
 * `<scope>.<name>.weight` / `.bias`, exactly the PyTorch state-dict keys.
 */
import { LorafuseError } from '../../../errors.ts';
import type { GraphBuilder, Value } from '../dsl/builder.ts';
import {
  add,
  conv2d,
  erf,
  instanceNormalization,
  layerNormalization,
  matmul,
  mul,
  reshape,
  reshapeTo,
  scalar,
  shapeOf,
  sigmoid,
  softmax,
  transpose,
} from '../dsl/ops.ts';

function lastDim(v: Value): number | string {
  return v.shape[v.shape.length - 1]!;
}

/** `nn.Linear(inFeatures, outFeatures, bias)`: `x @ W^T + b`. */
export function linear(
  g: GraphBuilder,
  x: Value,
  name: string,
  inFeatures: number,
  outFeatures: number,
  bias = true,
): Value {
  return g.scope(name, () => {
    const d = lastDim(x);
    if (typeof d === 'number' && d !== inFeatures) {
      throw new LorafuseError(
        'internal',
        `Graph '${g.name}': ${g.path} expects ${inFeatures} features, got ${d}.`,
        {
          module: g.path,
          input: x.shape,
        },
      );
    }
    const w = g.weight('weight', [outFeatures, inFeatures]);
    const y = matmul(g, x, transpose(g, w, [1, 0]));
    return bias ? add(g, y, g.weight('bias', [outFeatures])) : y;
  });
}

export interface Conv2dSpec {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernel: number;
  readonly stride?: number;
  /** Defaults to `(kernel - 1) / 2` ("same" for odd kernels). */
  readonly pad?: number;
}

/** `nn.Conv2d` with bias. */
export function conv(g: GraphBuilder, x: Value, name: string, spec: Conv2dSpec): Value {
  return g.scope(name, () => {
    const w = g.weight('weight', [spec.outChannels, spec.inChannels, spec.kernel, spec.kernel]);
    const b = g.weight('bias', [spec.outChannels]);
    return conv2d(g, x, w, b, { stride: spec.stride ?? 1, pad: spec.pad ?? (spec.kernel - 1) / 2 });
  });
}

/**
 * `nn.GroupNorm(groups, channels, eps)` on NCHW: reshape to [N, G, -1], InstanceNormalization
 * (unit scale, zero bias), reshape back, then the per-channel affine. The WebGPU backend has no
 * GroupNormalization; this is its exact equivalent.
 */
export function groupNorm(
  g: GraphBuilder,
  x: Value,
  name: string,
  groups: number,
  channels: number,
  eps: number,
): Value {
  return g.scope(name, () => {
    if (channels % groups !== 0) {
      throw new LorafuseError(
        'config-invalid',
        `${g.path}: ${channels} channels do not split into ${groups} groups.`,
        {
          module: g.path,
        },
      );
    }
    const c = x.shape[1];
    if (typeof c === 'number' && c !== channels) {
      throw new LorafuseError(
        'internal',
        `Graph '${g.name}': ${g.path} expects ${channels} channels, got ${c}.`,
        {
          module: g.path,
          input: x.shape,
        },
      );
    }
    const grouped = reshape(g, x, [0, groups, -1]);
    const ones = g.constant('float32', [groups], new Array<number>(groups).fill(1));
    const zeros = g.constant('float32', [groups], new Array<number>(groups).fill(0));
    const normed = reshapeTo(g, instanceNormalization(g, grouped, ones, zeros, eps), shapeOf(g, x), x.shape);
    const gamma = reshape(g, g.weight('weight', [channels]), [channels, 1, 1]);
    const beta = reshape(g, g.weight('bias', [channels]), [channels, 1, 1]);
    return add(g, mul(g, normed, gamma), beta);
  });
}

/** `nn.LayerNorm(dim, eps)` over the last axis. */
export function layerNorm(g: GraphBuilder, x: Value, name: string, dim: number, eps: number): Value {
  return g.scope(name, () =>
    layerNormalization(g, x, g.weight('weight', [dim]), g.weight('bias', [dim]), eps),
  );
}

export function silu(g: GraphBuilder, x: Value): Value {
  return mul(g, x, sigmoid(g, x));
}

/** Exact GELU: `0.5 x (1 + erf(x / sqrt 2))` (torch `F.gelu`, approximate='none'). */
export function gelu(g: GraphBuilder, x: Value): Value {
  const inner = add(g, erf(g, mul(g, x, scalar(g, Math.SQRT1_2))), scalar(g, 1));
  return mul(g, mul(g, x, scalar(g, 0.5)), inner);
}

/** CLIP's `quick_gelu`: `x * sigmoid(1.702 x)`. */
export function quickGelu(g: GraphBuilder, x: Value): Value {
  return mul(g, x, sigmoid(g, mul(g, x, scalar(g, 1.702))));
}

/** The activations named in transformers / diffusers configs. */
export function activation(g: GraphBuilder, x: Value, name: string): Value {
  switch (name) {
    case 'silu':
    case 'swish':
      return silu(g, x);
    case 'gelu':
      return gelu(g, x);
    case 'quick_gelu':
      return quickGelu(g, x);
    default:
      throw new LorafuseError('not-implemented', `${g.path}: activation '${name}' is not supported.`, {
        module: g.path,
        activation: name,
      });
  }
}

/**
 * Multi-head scaled dot-product attention on [B, S, heads * headDim] tensors:
 * `softmax(Q K^T / sqrt(headDim) + mask) V`, heads merged back to [B, Sq, heads * headDim].
 * `mask` (optional) broadcasts against the [B, heads, Sq, Sk] scores.
 */
export function multiHeadAttention(
  g: GraphBuilder,
  q: Value,
  k: Value,
  v: Value,
  heads: number,
  headDim: number,
  mask: Value | null = null,
): Value {
  const split = (t: Value) => transpose(g, reshape(g, t, [0, 0, heads, headDim]), [0, 2, 1, 3]);
  const qh = split(q);
  const kt = transpose(g, reshape(g, k, [0, 0, heads, headDim]), [0, 2, 3, 1]);
  const vh = split(v);
  let scores = mul(g, matmul(g, qh, kt), scalar(g, 1 / Math.sqrt(headDim)));
  if (mask) scores = add(g, scores, mask);
  const out = matmul(g, softmax(g, scores, -1), vh);
  return reshape(g, transpose(g, out, [0, 2, 1, 3]), [0, 0, heads * headDim]);
}

/** [B, C, H, W] -> [B, H*W, C] */
export function imageToTokens(g: GraphBuilder, x: Value): Value {
  const c = x.shape[1]!;
  if (typeof c !== 'number') {
    throw new LorafuseError('internal', `Graph '${g.name}': ${g.path} needs a static channel count.`, {
      module: g.path,
    });
  }
  return reshape(g, transpose(g, x, [0, 2, 3, 1]), [0, -1, c]);
}

/** [B, H*W, C] -> [B, C, H, W], with H and W (and C) taken from `like`, an NCHW value. */
export function tokensToImage(g: GraphBuilder, tokens: Value, like: Value): Value {
  if (tokens.shape[2] !== like.shape[1]) {
    throw new LorafuseError(
      'not-implemented',
      `${g.path}: a transformer whose width (${tokens.shape[2]}) differs from its input channels (${like.shape[1]}).`,
      { module: g.path },
    );
  }
  return reshapeTo(g, transpose(g, tokens, [0, 2, 1]), shapeOf(g, like), like.shape);
}
