/**
 * UNet2DConditionModel graphs on onnxruntime-web (wasm) against `unet(...).sample` from diffusers
 * (fixtures tiny-sd15_unet_base: SD1.x-style conv projections; tiny-sdxl_unet_base: linear
 * projections, 2 transformer layers, text_time added conditioning). Tolerance 1e-4 max abs
 * (fixtures README, forwards).
 */
import * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { parseUNetConfig } from '../../src/core/graph/config/unet-config.ts';
import { buildUNetGraph } from '../../src/core/graph/nets/unet.ts';
import {
  caseTensor,
  componentWeights,
  maxAbsDiff,
  readCase,
  readJson,
  sessionWithWeights,
} from './graph-fixtures.ts';

interface UnetOp {
  op: string;
  timestep: number;
  added_cond_kwargs?: { text_embeds: string; time_ids: string };
}

describe('UNet graphs vs diffusers', () => {
  for (const [name, model] of [
    ['tiny-sd15_unet_base', 'tiny-sd15'],
    ['tiny-sdxl_unet_base', 'tiny-sdxl'],
  ] as const) {
    it(name, async () => {
      const cfg = parseUNetConfig(readJson(`models/${model}/unet/config.json`));
      const session = await sessionWithWeights(buildUNetGraph(cfg), componentWeights(model, 'unet'));
      const fx = readCase(name);
      const op = (fx.json as unknown as { ops: UnetOp[] }).ops[0]!;
      const inputs: Record<string, ort.Tensor> = {
        sample: caseTensor(fx, 'inputs.sample'),
        timestep: new ort.Tensor('float32', Float32Array.of(op.timestep), [1]),
        encoder_hidden_states: caseTensor(fx, 'inputs.encoder_hidden_states'),
      };
      if (op.added_cond_kwargs) {
        inputs.text_embeds = caseTensor(fx, `inputs.${op.added_cond_kwargs.text_embeds}`);
        inputs.time_ids = caseTensor(fx, `inputs.${op.added_cond_kwargs.time_ids}`);
      }
      const out = await session.run(inputs);
      const expected = caseTensor(fx, 'outputs.out');
      expect(out.out_sample!.dims).toEqual(expected.dims);
      const err = maxAbsDiff(out.out_sample!.data as Float32Array, expected.data as Float32Array);
      console.log(`${name}: max abs ${err.toExponential(2)}`);
      expect(err).toBeLessThanOrEqual(1e-4);
      await session.release();
    });
  }
});
