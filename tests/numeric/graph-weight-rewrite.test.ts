/**
 * Weights are run-time inputs: replacing one between two runs of the SAME session changes the
 * output exactly as a CPU computation predicts (no session is recreated; DESIGN.md decision 1).
 */
import * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { parseClipTextConfig } from '../../src/core/graph/config/clip-config.ts';
import { parseVaeConfig } from '../../src/core/graph/config/vae-config.ts';
import { buildClipTextGraph } from '../../src/core/graph/nets/clip.ts';
import { buildVaeDecoderGraph } from '../../src/core/graph/nets/vae.ts';
import {
  caseTensor,
  componentWeights,
  maxAbsDiff,
  readCase,
  readJson,
  sessionWithWeights,
} from './graph-fixtures.ts';

describe('rewriting a weight between runs of one session', () => {
  it('VAE decoder.conv_out.bias: channel 1 moves by exactly the bias change, others stay bit-identical', async () => {
    const cfg = parseVaeConfig(readJson('models/tiny-sd15/vae/config.json'));
    const session = await sessionWithWeights(buildVaeDecoderGraph(cfg), componentWeights('tiny-sd15', 'vae'));
    const latents = caseTensor(readCase('tiny-sd15_vae_decode'), 'inputs.latents');
    const before = (await session.run({ latent_sample: latents })).sample!;

    const key = 'decoder.conv_out.bias';
    const bias = Float32Array.from(session.getWeight(key)!.data as Float32Array);
    const delta = 0.375;
    bias[1]! += delta;
    session.setWeight(key, new ort.Tensor('float32', bias, [bias.length]));
    const after = (await session.run({ latent_sample: latents })).sample!;

    const [, channels, h, w] = before.dims as [number, number, number, number];
    const plane = h * w;
    const b = before.data as Float32Array;
    const a = after.data as Float32Array;
    for (let c = 0; c < channels; c++) {
      const got = a.subarray(c * plane, (c + 1) * plane);
      const old = b.subarray(c * plane, (c + 1) * plane);
      const predicted = Float32Array.from(old, (x) => (c === 1 ? x + delta : x));
      // conv output = sum + bias: one float32 rounding of a value below 4 in magnitude (< 5e-7).
      expect(maxAbsDiff(got, predicted)).toBeLessThanOrEqual(c === 1 ? 1e-6 : 0);
    }
    await session.release();
  });

  it('CLIP text_projection.weight: text_embeds move by pooled @ dW^T', async () => {
    const cfg = parseClipTextConfig(readJson('models/tiny-sdxl/text_encoder_2/config.json'));
    const session = await sessionWithWeights(
      buildClipTextGraph(cfg),
      componentWeights('tiny-sdxl', 'text_encoder_2'),
    );
    const fx = readCase('tiny-sdxl_te_sdxl-kohya');
    const idsF = caseTensor(fx, 'inputs.input_ids_2');
    const ids = new ort.Tensor('int32', Int32Array.from(idsF.data as Float32Array), idsF.dims);
    const before = await session.run({ input_ids: ids });

    const key = 'text_projection.weight';
    const w0 = session.getWeight(key)!.data as Float32Array;
    const [out, inp] = [cfg.projectionDim, cfg.hiddenSize];
    // A deterministic, independent change: dW[o][i] = sin(o * 7 + i) / 8.
    const dW = Float32Array.from(
      { length: out * inp },
      (_, k) => Math.sin(Math.floor(k / inp) * 7 + (k % inp)) / 8,
    );
    const w1 = Float32Array.from(w0, (x, k) => x + dW[k]!);
    session.setWeight(key, new ort.Tensor('float32', w1, [out, inp]));
    const after = await session.run({ input_ids: ids });

    // pooled = last_hidden_state at the first EOS token (the last hidden state does not depend on W).
    const idList = Array.from(ids.data as Int32Array);
    const eos = idList.indexOf(cfg.eosTokenId);
    expect(eos).toBeGreaterThan(0);
    const lhs = after.last_hidden_state!.data as Float32Array;
    expect(maxAbsDiff(lhs, before.last_hidden_state!.data as Float32Array)).toBe(0);
    const pooled = lhs.subarray(eos * inp, (eos + 1) * inp);
    const predicted = new Float64Array(out);
    for (let o = 0; o < out; o++) {
      let s = 0;
      for (let i = 0; i < inp; i++) s += pooled[i]! * w1[o * inp + i]!;
      predicted[o] = s;
    }
    const got = after.text_embeds!.data as Float32Array;
    const moved = maxAbsDiff(got, before.text_embeds!.data as Float32Array);
    const err = maxAbsDiff(got, predicted);
    console.log(
      `text_projection rewrite: output moved ${moved.toFixed(3)}, error vs CPU ${err.toExponential(2)}`,
    );
    expect(moved).toBeGreaterThan(0.1);
    expect(err).toBeLessThanOrEqual(1e-5);
    await session.release();
  });
});
