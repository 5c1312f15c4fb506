/**
 * diffusers' `ResnetBlock2D`, `Downsample2D` and `Upsample2D` (resnet.py, downsampling.py,
 * upsampling.py) as graph functions.
 */
import { LorafuseError } from '../../../errors.ts';
import type { GraphBuilder, Value } from '../dsl/builder.ts';
import {
  add,
  concat,
  div,
  resizeNearest,
  resizeNearestScale,
  scalar,
  shapeOf,
  slice,
  unsqueeze,
} from '../dsl/ops.ts';
import { activation, conv, groupNorm, linear } from './layers.ts';

export interface ResnetSpec {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly groups: number;
  readonly eps: number;
  /** Width of the time embedding, or null for the VAE's resnets (no `time_emb_proj`). */
  readonly tembChannels: number | null;
  readonly act?: string;
  readonly outputScaleFactor?: number;
}

/**
 * `ResnetBlock2D` with `time_embedding_norm='default'`:
 * `(shortcut(x) + conv2(act(norm2(conv1(act(norm1(x))) + proj(act(temb)))))) / scale`.
 */
export function resnetBlock2D(g: GraphBuilder, x: Value, temb: Value | null, spec: ResnetSpec): Value {
  const act = spec.act ?? 'silu';
  let h = activation(g, groupNorm(g, x, 'norm1', spec.groups, spec.inChannels, spec.eps), act);
  h = conv(g, h, 'conv1', { inChannels: spec.inChannels, outChannels: spec.outChannels, kernel: 3 });
  if (spec.tembChannels !== null) {
    if (!temb) {
      throw new LorafuseError('internal', `${g.path}: a time embedding is required.`, { module: g.path });
    }
    const t = linear(g, activation(g, temb, act), 'time_emb_proj', spec.tembChannels, spec.outChannels);
    h = add(g, h, unsqueeze(g, t, [2, 3]));
  }
  h = activation(g, groupNorm(g, h, 'norm2', spec.groups, spec.outChannels, spec.eps), act);
  h = conv(g, h, 'conv2', { inChannels: spec.outChannels, outChannels: spec.outChannels, kernel: 3 });
  const shortcut =
    spec.inChannels === spec.outChannels
      ? x
      : conv(g, x, 'conv_shortcut', {
          inChannels: spec.inChannels,
          outChannels: spec.outChannels,
          kernel: 1,
        });
  const out = add(g, shortcut, h);
  const scale = spec.outputScaleFactor ?? 1;
  return scale === 1 ? out : div(g, out, scalar(g, scale));
}

/** `Downsample2D(use_conv=True)`: a stride-2 3x3 conv named `conv`. */
export function downsample2D(g: GraphBuilder, x: Value, channels: number, padding: number): Value {
  return conv(g, x, 'conv', {
    inChannels: channels,
    outChannels: channels,
    kernel: 3,
    stride: 2,
    pad: padding,
  });
}

/**
 * `Upsample2D(use_conv=True)`: nearest-neighbour upsampling then a 3x3 conv named `conv`. With
 * `sizeLike` the output takes that value's spatial size (diffusers' `upsample_size`, needed when
 * the latent size is not a multiple of the UNet's total down factor); otherwise it doubles.
 */
export function upsample2D(g: GraphBuilder, x: Value, channels: number, sizeLike: Value | null): Value {
  let up: Value;
  if (sizeLike) {
    const sizes = concat(
      g,
      [slice(g, shapeOf(g, x), [0], [2], [0]), slice(g, shapeOf(g, sizeLike), [2], [4], [0])],
      0,
    );
    up = resizeNearest(g, x, sizes, [x.shape[0]!, x.shape[1]!, sizeLike.shape[2]!, sizeLike.shape[3]!]);
  } else {
    up = resizeNearestScale(g, x, 2);
  }
  return conv(g, up, 'conv', { inChannels: channels, outChannels: channels, kernel: 3 });
}
