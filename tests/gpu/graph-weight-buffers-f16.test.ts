/**
 * weightBuffersFromSafetensors for a float16 graph (Dawn; no shader-f16 needed, only bytes move):
 * every weight buffer holds the file's values rounded to f16 (f32ToF16, nearest even), as plain
 * little-endian halves, padded with zeros to ORT's 16 bytes.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { parseClipTextConfig } from '../../src/core/graph/config/clip-config.ts';
import { buildClipTextGraph } from '../../src/core/graph/nets/clip.ts';
import { ortBufferSize } from '../../src/core/graph/runner/session.ts';
import { weightBuffersFromSafetensors } from '../../src/core/graph/runner/weights.ts';
import { bufferSource, f32ToF16, openSafetensors, readSafetensors } from '../../src/core/io/safetensors.ts';
import { getTestDevice, readBuffer, uncapturedErrors } from './dawn.ts';

const DIR = 'tests/fixtures/models/tiny-sd15/text_encoder';

describe('weightBuffersFromSafetensors, float16 graph', () => {
  it('uploads the tiny CLIP text encoder as padded f16 halves', async () => {
    const device = await getTestDevice();
    const def = buildClipTextGraph(
      parseClipTextConfig(JSON.parse(readFileSync(`${DIR}/config.json`, 'utf8'))),
      {
        weightDType: 'float16',
      },
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
      if ((count * 2) % 16 !== 0) oddSized++;
      expect(buffer.size, w.name).toBe(ortBufferSize(count * 2));
      const got = new Uint16Array(await readBuffer(device, buffer));
      expect(got.subarray(0, count), w.name).toEqual(f32ToF16(file.float32(w.name)));
      expect(Array.from(got.subarray(count)), `${w.name} padding`).toEqual(
        new Array(got.length - count).fill(0),
      );
      buffer.destroy();
    }
    // The premise: some weights' f16 byte size is not a multiple of 16 (the padding is exercised).
    expect(oddSized).toBeGreaterThan(0);
    expect(uncapturedErrors).toEqual([]);
  });
});
