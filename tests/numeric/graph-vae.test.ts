/**
 * AutoencoderKL decoder graph on onnxruntime-web (wasm) against `vae.decode(z).sample` from
 * diffusers (fixture tiny-sd15_vae_decode). Tolerance 1e-4 max abs (fixtures README, forwards).
 */
import { describe, expect, it } from 'vitest';
import { parseVaeConfig } from '../../src/core/graph/config/vae-config.ts';
import { buildVaeDecoderGraph } from '../../src/core/graph/nets/vae.ts';
import {
  caseTensor,
  componentWeights,
  maxAbsDiff,
  readCase,
  readJson,
  sessionWithWeights,
} from './graph-fixtures.ts';

describe('VAE decoder graph vs diffusers', () => {
  it('tiny-sd15_vae_decode', async () => {
    const cfg = parseVaeConfig(readJson('models/tiny-sd15/vae/config.json'));
    const session = await sessionWithWeights(buildVaeDecoderGraph(cfg), componentWeights('tiny-sd15', 'vae'));
    const fx = readCase('tiny-sd15_vae_decode');
    const out = await session.run({ latent_sample: caseTensor(fx, 'inputs.latents') });
    const expected = caseTensor(fx, 'outputs.out');
    expect(out.sample!.dims).toEqual(expected.dims);
    const err = maxAbsDiff(out.sample!.data as Float32Array, expected.data as Float32Array);
    console.log(`tiny-sd15_vae_decode: max abs ${err.toExponential(2)}`);
    expect(err).toBeLessThanOrEqual(1e-4);
    await session.release();
  });
});
