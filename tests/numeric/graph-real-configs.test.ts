/**
 * The graphs built from the REAL SD1.5, SD2.1 and SDXL configs are valid ONNX that
 * onnxruntime-web accepts: session creation runs ONNX type and shape inference over every node
 * (a dtype clash or an impossible broadcast fails here), with the weights left as inputs.
 */
import * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { parseClipTextConfig } from '../../src/core/graph/config/clip-config.ts';
import { parseUNetConfig } from '../../src/core/graph/config/unet-config.ts';
import type { GraphDef } from '../../src/core/graph/dsl/builder.ts';
import { serializeGraph } from '../../src/core/graph/dsl/serialize.ts';
import { buildClipTextGraph } from '../../src/core/graph/nets/clip.ts';
import { buildUNetGraph } from '../../src/core/graph/nets/unet.ts';
import { readJson } from './graph-fixtures.ts';

async function expectSession(def: GraphDef): Promise<void> {
  const session = await ort.InferenceSession.create(serializeGraph(def));
  expect([...session.inputNames].sort()).toEqual([...def.inputs, ...def.weights].map((v) => v.name).sort());
  expect(session.outputNames).toEqual(def.outputs.map((o) => o.name));
  await session.release();
}

describe.each(['sd15', 'sd2', 'sdxl'])('real %s config', (base) => {
  it('UNet graph loads in onnxruntime-web', { timeout: 180_000 }, async () => {
    await expectSession(buildUNetGraph(parseUNetConfig(readJson(`configs/${base}/unet/config.json`))));
  });

  it('text encoder graphs load in onnxruntime-web', async () => {
    for (const te of base === 'sdxl' ? ['text_encoder', 'text_encoder_2'] : ['text_encoder']) {
      await expectSession(
        buildClipTextGraph(parseClipTextConfig(readJson(`configs/${base}/${te}/config.json`))),
      );
    }
  });
});
