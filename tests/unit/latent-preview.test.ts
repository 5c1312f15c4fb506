import { describe, expect, it } from 'vitest';
import { latentPreview } from '../../src/core/pipeline/latent-preview.ts';

describe('latentPreview', () => {
  it('maps zero latents to mid grey and one latent channel through its RGB factors', () => {
    // 4 channels, 1x2 cells: cell 0 all zero, cell 1 has channel 0 = 1 (factors 0.298, 0.207, 0.208).
    const lat = new Float32Array(8);
    lat[1] = 1;
    const p = latentPreview(lat, [1, 4, 1, 2]);
    expect([p.width, p.height]).toEqual([2, 1]);
    const byte = (v: number) => Math.round(((v + 1) / 2) * 255);
    expect(Array.from(p.rgba)).toEqual([
      byte(0),
      byte(0),
      byte(0),
      255,
      byte(0.298),
      byte(0.207),
      byte(0.208),
      255,
    ]);
  });
});
