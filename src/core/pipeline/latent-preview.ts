/**
 * A cheap latent -> RGB preview for step progress: one pixel per latent cell, a fixed linear map
 * of the 4 SD latent channels (the widely used approximation factors for SD1.x/2.x/XL VAEs), no
 * VAE run. Latents with another channel count preview as the grey mean of their channels.
 */

/** rgb += latent[c] * FACTORS[c]. */
const FACTORS: readonly (readonly [number, number, number])[] = [
  [0.298, 0.207, 0.208],
  [0.187, 0.286, 0.173],
  [-0.158, 0.189, 0.264],
  [-0.184, -0.271, -0.473],
];

export interface PreviewImage {
  width: number;
  height: number;
  rgba: Uint8ClampedArray;
}

/** `latents` [1, C, h, w] (before VAE scaling) as an h x w RGBA image. */
export function latentPreview(
  latents: Float32Array,
  shape: readonly [number, number, number, number],
): PreviewImage {
  const [, c, h, w] = shape;
  const n = h * w;
  const rgba = new Uint8ClampedArray(n * 4);
  const byte = (v: number) => Math.round(((v + 1) / 2) * 255);
  for (let i = 0; i < n; i++) {
    let r = 0;
    let g = 0;
    let b = 0;
    if (c === FACTORS.length) {
      for (let k = 0; k < c; k++) {
        const x = latents[k * n + i]!;
        const f = FACTORS[k]!;
        r += x * f[0];
        g += x * f[1];
        b += x * f[2];
      }
    } else {
      let s = 0;
      for (let k = 0; k < c; k++) s += latents[k * n + i]!;
      r = g = b = s / Math.max(c, 1);
    }
    rgba[i * 4] = byte(r);
    rgba[i * 4 + 1] = byte(g);
    rgba[i * 4 + 2] = byte(b);
    rgba[i * 4 + 3] = 255;
  }
  return { width: w, height: h, rgba };
}
