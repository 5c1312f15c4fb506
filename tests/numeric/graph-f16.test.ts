/**
 * float16 weights (`weightDType: 'float16'`: f16 weight inputs cast to float32 inside the graph) on
 * onnxruntime-web (wasm), for the tiny-sd15 UNet, text encoder and VAE decoder, and the tiny-sdxl
 * UNet (linear projections, text_time conditioning) and second text encoder (with projection).
 *
 * Expected values come from an independent computation of what f16 storage implies: the float32
 * graph run with every weight rounded to f16 on the CPU (f32ToF16 then f16ToF32). Compute stays
 * float32, so the two must agree to float32 noise: 1e-5 max abs (the only difference is where ORT
 * may fuse around the Cast nodes). The premise is checked too: the rounding moves the output by
 * far more than 1e-5, so a session that silently kept float32 weights would fail. The distance to
 * Diffusers' / transformers' float32 outputs is printed (it is the f16 rounding of the weights plus
 * the 1e-4 float32 agreement of tests/numeric/graph-{unet,clip,vae}.test.ts).
 */
import * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { parseClipTextConfig } from '../../src/core/graph/config/clip-config.ts';
import { parseUNetConfig } from '../../src/core/graph/config/unet-config.ts';
import { parseVaeConfig } from '../../src/core/graph/config/vae-config.ts';
import type { GraphDef, WeightDType } from '../../src/core/graph/dsl/builder.ts';
import { buildClipTextGraph } from '../../src/core/graph/nets/clip.ts';
import { buildUNetGraph } from '../../src/core/graph/nets/unet.ts';
import { buildVaeDecoderGraph } from '../../src/core/graph/nets/vae.ts';
import { NetworkSession } from '../../src/core/graph/runner/session.ts';
import { f16ToF32, f32ToF16, type SafetensorsFile } from '../../src/core/io/safetensors.ts';
import {
  caseTensor,
  componentWeights,
  type FixtureCase,
  maxAbsDiff,
  readCase,
  readJson,
  sessionWithWeights,
} from './graph-fixtures.ts';

/** f16 weights vs the float32 graph on f16-rounded weights: float32 noise only. */
const TOL = 1e-5;

/** The float32 graph with every weight rounded to f16 and back on the CPU. */
async function roundedF32Session(def: GraphDef, file: SafetensorsFile): Promise<NetworkSession> {
  const session = await NetworkSession.create(def);
  for (const w of def.weights) {
    const rounded = f16ToF32(f32ToF16(file.float32(w.name)));
    session.setWeight(w.name, new ort.Tensor('float32', rounded, [...w.shape]));
  }
  return session;
}

interface UnetOp {
  timestep: number;
  added_cond_kwargs?: { text_embeds: string; time_ids: string };
}

interface Network {
  name: string;
  model: string;
  component: string;
  build: (dtype: WeightDType) => GraphDef;
  inputs: (fx: FixtureCase) => Record<string, ort.Tensor>;
  /** [graph output, fixture key of Diffusers' output] */
  outputs: [string, string][];
}

const NETWORKS: Network[] = [
  {
    name: 'tiny-sd15_unet_base',
    model: 'tiny-sd15',
    component: 'unet',
    build: (dtype) =>
      buildUNetGraph(parseUNetConfig(readJson('models/tiny-sd15/unet/config.json')), { weightDType: dtype }),
    inputs: (fx) => {
      const op = (fx.json as unknown as { ops: UnetOp[] }).ops[0]!;
      return {
        sample: caseTensor(fx, 'inputs.sample'),
        timestep: new ort.Tensor('float32', Float32Array.of(op.timestep), [1]),
        encoder_hidden_states: caseTensor(fx, 'inputs.encoder_hidden_states'),
      };
    },
    outputs: [['out_sample', 'outputs.out']],
  },
  {
    name: 'tiny-sd15_te_sd15-kohya',
    model: 'tiny-sd15',
    component: 'text_encoder',
    build: (dtype) =>
      buildClipTextGraph(parseClipTextConfig(readJson('models/tiny-sd15/text_encoder/config.json')), {
        weightDType: dtype,
      }),
    inputs: (fx) => {
      const ids = caseTensor(fx, 'inputs.input_ids');
      return { input_ids: new ort.Tensor('int32', Int32Array.from(ids.data as Float32Array), ids.dims) };
    },
    outputs: [
      ['last_hidden_state', 'outputs.base.text_encoder.last_hidden_state'],
      ['pooler_output', 'outputs.base.text_encoder.pooled'],
    ],
  },
  {
    name: 'tiny-sdxl_unet_base',
    model: 'tiny-sdxl',
    component: 'unet',
    build: (dtype) =>
      buildUNetGraph(parseUNetConfig(readJson('models/tiny-sdxl/unet/config.json')), { weightDType: dtype }),
    inputs: (fx) => {
      const op = (fx.json as unknown as { ops: UnetOp[] }).ops[0]!;
      const cond = op.added_cond_kwargs!;
      return {
        sample: caseTensor(fx, 'inputs.sample'),
        timestep: new ort.Tensor('float32', Float32Array.of(op.timestep), [1]),
        encoder_hidden_states: caseTensor(fx, 'inputs.encoder_hidden_states'),
        text_embeds: caseTensor(fx, `inputs.${cond.text_embeds}`),
        time_ids: caseTensor(fx, `inputs.${cond.time_ids}`),
      };
    },
    outputs: [['out_sample', 'outputs.out']],
  },
  {
    name: 'tiny-sdxl_te_sdxl-kohya',
    model: 'tiny-sdxl',
    component: 'text_encoder_2',
    build: (dtype) =>
      buildClipTextGraph(parseClipTextConfig(readJson('models/tiny-sdxl/text_encoder_2/config.json')), {
        weightDType: dtype,
      }),
    inputs: (fx) => {
      const ids = caseTensor(fx, 'inputs.input_ids_2');
      return { input_ids: new ort.Tensor('int32', Int32Array.from(ids.data as Float32Array), ids.dims) };
    },
    outputs: [
      ['penultimate_hidden_state', 'outputs.base.text_encoder_2.penultimate_hidden_state'],
      ['text_embeds', 'outputs.base.text_encoder_2.pooled'],
    ],
  },
  {
    name: 'tiny-sd15_vae_decode',
    model: 'tiny-sd15',
    component: 'vae',
    build: (dtype) =>
      buildVaeDecoderGraph(parseVaeConfig(readJson('models/tiny-sd15/vae/config.json')), {
        weightDType: dtype,
      }),
    inputs: (fx) => ({ latent_sample: caseTensor(fx, 'inputs.latents') }),
    outputs: [['sample', 'outputs.out']],
  },
];

describe('float16 weights on wasm', () => {
  for (const n of NETWORKS) {
    it(n.name, async () => {
      const file = componentWeights(n.model, n.component);
      const fx = readCase(n.name);
      const inputs = n.inputs(fx);
      const half = await sessionWithWeights(n.build('float16'), file);
      expect(half.weightDtype).toBe('float16');
      for (const w of half.def.weights) expect(half.getWeight(w.name)!.type, w.name).toBe('float16');
      const exact = await sessionWithWeights(n.build('float32'), file);
      const rounded = await roundedF32Session(n.build('float32'), file);
      const [outHalf, outExact, outRounded] = [
        await half.run(inputs),
        await exact.run(inputs),
        await rounded.run(inputs),
      ];
      for (const [mine, key] of n.outputs) {
        const got = outHalf[mine]!.data as Float32Array;
        const vsRounded = maxAbsDiff(got, outRounded[mine]!.data as Float32Array);
        const rounding = maxAbsDiff(
          outExact[mine]!.data as Float32Array,
          outRounded[mine]!.data as Float32Array,
        );
        const vsDiffusers = maxAbsDiff(got, caseTensor(fx, key).data as Float32Array);
        console.log(
          `${n.name} ${mine}: f16 weights vs f32 graph on f16-rounded weights ${vsRounded.toExponential(2)}; ` +
            `f16 rounding moves the f32 output by ${rounding.toExponential(2)}; vs Diffusers ${vsDiffusers.toExponential(2)}`,
        );
        expect(vsRounded).toBeLessThanOrEqual(TOL);
        // The premise: the rounding is visible at this tolerance, so f32 weights would fail above.
        expect(rounding).toBeGreaterThan(10 * TOL);
      }
      await Promise.all([half.release(), exact.release(), rounded.release()]);
    });
  }
});
