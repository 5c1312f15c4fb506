/**
 * Weight GPU buffers for onnxruntime-web's WebGPU backend (Dawn on SwiftShader): every weight of a
 * network lands in its own buffer, padded to a multiple of 16 bytes with zeros after the data
 * (ORT's kernels read whole 16-byte vectors; an exact-size 37-float bias gave wrong outputs in
 * Chromium), and the data equals the file's, bit for bit.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { parseClipTextConfig } from '../../src/core/graph/config/clip-config.ts';
import { buildClipTextGraph } from '../../src/core/graph/nets/clip.ts';
import { ortBufferSize } from '../../src/core/graph/runner/session.ts';
import { weightBuffersFromSafetensors } from '../../src/core/graph/runner/weights.ts';
import { bufferSource, openSafetensors, readSafetensors } from '../../src/core/io/safetensors.ts';
import { getTestDevice, readBuffer, uncapturedErrors } from './dawn.ts';

const DIR = 'tests/fixtures/models/tiny-sd15/text_encoder';

describe('weightBuffersFromSafetensors', () => {
  it('uploads every weight of the tiny CLIP text encoder, padded for ORT, bit-exact', async () => {
    const device = await getTestDevice();
    const def = buildClipTextGraph(
      parseClipTextConfig(JSON.parse(readFileSync(`${DIR}/config.json`, 'utf8'))),
    );
    const bytes = new Uint8Array(readFileSync(`${DIR}/model.safetensors`));
    const file = readSafetensors(bytes, 'model.safetensors');
    const reader = await openSafetensors(bufferSource(bytes, 'x'));
    // Each weight is allocated once, at its padded size: no second buffer, no copy.
    const created = vi.spyOn(device, 'createBuffer');
    const encoders = vi.spyOn(device, 'createCommandEncoder');
    let calls = { created: -1, encoders: -1 };
    const buffers = await weightBuffersFromSafetensors(def, reader, device).finally(() => {
      calls = { created: created.mock.calls.length, encoders: encoders.mock.calls.length };
      created.mockRestore();
      encoders.mockRestore();
    });
    expect(calls).toEqual({ created: def.weights.length, encoders: 0 });
    expect([...buffers.keys()].sort()).toEqual(def.weights.map((w) => w.name).sort());
    let oddSized = 0;
    for (const w of def.weights) {
      const buffer = buffers.get(w.name)!;
      const count = w.shape.reduce((a, b) => a * b, 1);
      if ((count * 4) % 16 !== 0) oddSized++;
      expect(buffer.size, w.name).toBe(ortBufferSize(count * 4));
      const got = new Float32Array(await readBuffer(device, buffer));
      expect(got.subarray(0, count), w.name).toEqual(file.float32(w.name));
      expect(Array.from(got.subarray(count)), `${w.name} padding`).toEqual(
        new Array(got.length - count).fill(0),
      );
      buffer.destroy();
    }
    // The premise: the file has weights whose byte size is not a multiple of 16 (intermediate_size 37).
    expect(oddSized).toBeGreaterThan(0);
    expect(uncapturedErrors).toEqual([]);
  });
});
