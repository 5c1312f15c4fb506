/**
 * Graphs are dynamic in batch, latent size and sequence length: one session serves all of them.
 * Checks use independent facts, not stored outputs of our own:
 * - a batch of two is row-by-row equal to two single runs (and row 0 is diffusers' fixture output);
 * - a latent size that is not a multiple of the UNet's down factor runs and keeps its size
 *   (diffusers' `upsample_size` path);
 * - CLIP is causal: the first n hidden states of a 77-token prompt equal those of its n-token prefix.
 */
import * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { parseClipTextConfig } from '../../src/core/graph/config/clip-config.ts';
import { parseUNetConfig } from '../../src/core/graph/config/unet-config.ts';
import { buildClipTextGraph } from '../../src/core/graph/nets/clip.ts';
import { buildUNetGraph } from '../../src/core/graph/nets/unet.ts';
import {
  caseTensor,
  componentWeights,
  maxAbsDiff,
  readCase,
  readJson,
  sessionWithWeights,
} from './graph-fixtures.ts';

function stack(a: ort.Tensor, b: ort.Tensor): ort.Tensor {
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  const out = new Float32Array(x.length + y.length);
  out.set(x);
  out.set(y, x.length);
  return new ort.Tensor('float32', out, [2, ...a.dims.slice(1)]);
}

function pseudoRandom(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed * 78.233) * 1.5);
}

describe('dynamic shapes', () => {
  it('UNet: batch 2 with per-row timesteps equals two single runs; odd latent size', async () => {
    const cfg = parseUNetConfig(readJson('models/tiny-sd15/unet/config.json'));
    const session = await sessionWithWeights(buildUNetGraph(cfg), componentWeights('tiny-sd15', 'unet'));
    const fx = readCase('tiny-sd15_unet_base');
    const s0 = caseTensor(fx, 'inputs.sample');
    const e0 = caseTensor(fx, 'inputs.encoder_hidden_states');
    const s1 = new ort.Tensor('float32', pseudoRandom(s0.size, 1), s0.dims);
    const e1 = new ort.Tensor('float32', pseudoRandom(e0.size, 2), e0.dims);
    const t = (v: number[]) => new ort.Tensor('float32', Float32Array.from(v), [v.length]);

    const single0 = (await session.run({ sample: s0, timestep: t([500]), encoder_hidden_states: e0 }))
      .out_sample!;
    const single1 = (await session.run({ sample: s1, timestep: t([250]), encoder_hidden_states: e1 }))
      .out_sample!;
    const both = (
      await session.run({
        sample: stack(s0, s1),
        timestep: t([500, 250]),
        encoder_hidden_states: stack(e0, e1),
      })
    ).out_sample!;
    expect(both.dims).toEqual([2, 4, 8, 8]);
    const data = both.data as Float32Array;
    const n = single0.size;
    expect(maxAbsDiff(data.subarray(0, n), single0.data as Float32Array)).toBeLessThanOrEqual(1e-5);
    expect(maxAbsDiff(data.subarray(n), single1.data as Float32Array)).toBeLessThanOrEqual(1e-5);
    expect(
      maxAbsDiff(single0.data as Float32Array, caseTensor(fx, 'outputs.out').data as Float32Array),
    ).toBeLessThan(1e-4);

    const odd = new ort.Tensor('float32', pseudoRandom(4 * 9 * 7, 3), [1, 4, 9, 7]);
    const oddOut = (await session.run({ sample: odd, timestep: t([10]), encoder_hidden_states: e0 }))
      .out_sample!;
    expect(oddOut.dims).toEqual([1, 4, 9, 7]);
    expect((oddOut.data as Float32Array).every(Number.isFinite)).toBe(true);
    await session.release();
  });

  it('CLIP: causal, and any sequence length up to max_position_embeddings', async () => {
    const cfg = parseClipTextConfig(readJson('models/tiny-sd15/text_encoder/config.json'));
    const session = await sessionWithWeights(
      buildClipTextGraph(cfg),
      componentWeights('tiny-sd15', 'text_encoder'),
    );
    const idsF = caseTensor(readCase('tiny-sd15_te_sd15-kohya'), 'inputs.input_ids');
    const full = Int32Array.from(idsF.data as Float32Array);
    const n = 5;
    const long = await session.run({ input_ids: new ort.Tensor('int32', full, [1, full.length]) });
    const short = await session.run({ input_ids: new ort.Tensor('int32', full.slice(0, n), [1, n]) });
    const d = cfg.hiddenSize;
    expect(short.last_hidden_state!.dims).toEqual([1, n, d]);
    for (const k of ['last_hidden_state', 'penultimate_hidden_state']) {
      const a = (long[k]!.data as Float32Array).subarray(0, n * d);
      expect(maxAbsDiff(a, short[k]!.data as Float32Array)).toBeLessThanOrEqual(1e-5);
    }
    await session.release();
  });
});
