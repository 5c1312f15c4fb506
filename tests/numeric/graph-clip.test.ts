/**
 * CLIPTextModel / CLIPTextModelWithProjection graphs on onnxruntime-web (wasm) against the base
 * (before any LoRA) text-encoder outputs stored by transformers in the fixtures. Tolerance 1e-4
 * max abs (fixtures README: forwards and text encoders, float32).
 */
import * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { parseClipTextConfig } from '../../src/core/graph/config/clip-config.ts';
import { buildClipTextGraph } from '../../src/core/graph/nets/clip.ts';
import {
  caseTensor,
  componentWeights,
  maxAbsDiff,
  readCase,
  readJson,
  sessionWithWeights,
} from './graph-fixtures.ts';

const TOL = 1e-4;

const SD15: [string, string][] = [['text_encoder', 'input_ids']];
const SDXL: [string, string][] = [...SD15, ['text_encoder_2', 'input_ids_2']];

/** Every text-encoder case; only its base outputs (before any LoRA is loaded) are compared. */
const CASES: { name: string; model: string; components: [string, string][] }[] = [
  ...['sd15-kohya', 'sd15-peft-metadata', 'sd15-diffusers-trainscript', 'sd15-dora'].map((l) => ({
    name: `tiny-sd15_te_${l}`,
    model: 'tiny-sd15',
    components: SD15,
  })),
  ...['sdxl-kohya', 'sdxl-diffusers-trainscript'].map((l) => ({
    name: `tiny-sdxl_te_${l}`,
    model: 'tiny-sdxl',
    components: SDXL,
  })),
];

describe('CLIP text encoder graphs vs transformers', () => {
  for (const c of CASES) {
    for (const [component, idsName] of c.components) {
      it(`${c.name} ${component}`, async () => {
        const cfg = parseClipTextConfig(readJson(`models/${c.model}/${component}/config.json`));
        const session = await sessionWithWeights(
          buildClipTextGraph(cfg),
          componentWeights(c.model, component),
        );
        const fx = readCase(c.name);
        const ids = caseTensor(fx, `inputs.${idsName}`);
        const input = new ort.Tensor('int32', Int32Array.from(ids.data as Float32Array), ids.dims);
        const out = await session.run({ input_ids: input });
        const pooledName = cfg.withProjection ? 'text_embeds' : 'pooler_output';
        const pairs: [string, string][] = [
          ['last_hidden_state', 'last_hidden_state'],
          ['penultimate_hidden_state', 'penultimate_hidden_state'],
          [pooledName, 'pooled'],
        ];
        for (const [mine, theirs] of pairs) {
          const expected = caseTensor(fx, `outputs.base.${component}.${theirs}`);
          const got = out[mine]!;
          expect(got.dims).toEqual(expected.dims);
          const err = maxAbsDiff(got.data as Float32Array, expected.data as Float32Array);
          console.log(`${c.name} ${component} ${mine}: max abs ${err.toExponential(2)}`);
          expect(err).toBeLessThanOrEqual(TOL);
        }
        await session.release();
      });
    }
  }
});

describe('CLIP pooling rule for legacy configs (eos_token_id 2, as in SD1.5)', () => {
  it('pools at the largest id, which is the EOS token', async () => {
    const parsed = parseClipTextConfig(readJson('models/tiny-sd15/text_encoder/config.json'));
    const cfg = { ...parsed, eosTokenId: 2 };
    const session = await sessionWithWeights(
      buildClipTextGraph(cfg),
      componentWeights('tiny-sd15', 'text_encoder'),
    );
    const fx = readCase('tiny-sd15_te_sd15-kohya');
    const ids = Int32Array.from(caseTensor(fx, 'inputs.input_ids').data as Float32Array);
    // The premise: EOS (1513) is the vocabulary's largest id and the prompt's largest token.
    expect(Math.max(...ids)).toBe(parsed.eosTokenId);
    const out = await session.run({ input_ids: new ort.Tensor('int32', ids, [1, ids.length]) });
    const expected = caseTensor(fx, 'outputs.base.text_encoder.pooled');
    expect(
      maxAbsDiff(out.pooler_output!.data as Float32Array, expected.data as Float32Array),
    ).toBeLessThanOrEqual(TOL);
    await session.release();
  });
});
