/**
 * Latents to pixels as Diffusers' pipelines do it: `vae.decode(latents / scaling_factor).sample`,
 * then `VaeImageProcessor.postprocess`: `(x / 2 + 0.5).clamp(0, 1)`, channels last. Gives the
 * float image (`output_type="np"`, [H, W, 3] in [0, 1]) and 8-bit RGBA for a canvas
 * (`numpy_to_pil`'s `(x * 255).round()`, alpha 255).
 */
import * as ort from 'onnxruntime-web';
import { downloadOutput, type NetworkSession } from '../graph/runner/session.ts';

export interface DecodedImage {
  width: number;
  height: number;
  /** [height, width, 3], values in [0, 1]. */
  float: Float32Array;
  /** [height, width, 4], alpha 255. */
  rgba: Uint8Array;
}

export interface DecodedSample {
  /** [1, 3, H, W], values in about [-1, 1]. */
  data: Float32Array;
  dims: readonly number[];
}

/** `vae.decode(z).sample` for one latent [1, C, h, w]. */
export async function vaeDecode(
  vae: NetworkSession,
  latents: Float32Array,
  latentShape: readonly number[],
): Promise<DecodedSample> {
  const out = await vae.run({ latent_sample: new ort.Tensor('float32', latents, [...latentShape]) });
  const sample = out.sample!;
  return { dims: [...sample.dims], data: await downloadOutput(sample) };
}

/** Divides by the VAE's `scaling_factor` (what the pipelines do before decoding). */
export function unscaleLatents(latents: Float32Array, scalingFactor: number): Float32Array {
  const s = Math.fround(scalingFactor);
  return latents.map((v) => v / s);
}

/** [1, 3, H, W] decoder output to channels-last float and RGBA images. */
export function postprocess(sample: DecodedSample): DecodedImage {
  const [, , height, width] = sample.dims as [number, number, number, number];
  const data = sample.data;
  const plane = height * width;
  const float = new Float32Array(plane * 3);
  const rgba = new Uint8Array(plane * 4);
  for (let p = 0; p < plane; p++) {
    for (let ch = 0; ch < 3; ch++) {
      const x = data[ch * plane + p]!;
      const v = Math.min(1, Math.max(0, Math.fround(Math.fround(x / 2) + 0.5)));
      float[p * 3 + ch] = v;
      rgba[p * 4 + ch] = Math.round(Math.fround(v * 255));
    }
    rgba[p * 4 + 3] = 255;
  }
  return { width, height, float, rgba };
}
