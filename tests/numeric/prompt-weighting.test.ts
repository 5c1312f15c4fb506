/**
 * Emphasis and long prompts through `encodePrompt` on the tiny SD1.5 and SDXL pipelines (wasm).
 * Independent facts, not stored outputs of our own:
 * - both options off is the default: leaving them out and passing `false` give the same bits;
 * - emphasis on a prompt without brackets (every weight 1) equals emphasis off exactly;
 * - long prompts on a prompt of <= 75 tokens equal long prompts off exactly (guided, with a
 *   negative prompt, both families);
 * - a prompt of 76..150 tokens gives [1, 154, dim]: the first 77 rows are exactly the off result
 *   (Diffusers cuts at the same 75 tokens), the next 77 are the text encoder run directly on
 *   bos + the remaining tokens + eos + pad; SDXL's pooled output is the first chunk's;
 * - emphasis: each row of the encoder output is w_t * c times the unweighted row, one c per chunk
 *   that restores the mean (float64 reference; 1e-5 relative, float32 arithmetic on 77 x 32).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subSource } from '../../src/core/cases/sub-source.ts';
import { LocalFolderSource } from '../../src/core/io/model-source.ts';
import { type LoadedModel, loadModel } from '../../src/core/pipeline/model.ts';
import {
  type EncodePromptRequest,
  encodePrompt,
  runTextEncoder,
} from '../../src/core/pipeline/prompt-encoding.ts';
import { FIXTURES } from './graph-fixtures.ts';

const root = new LocalFolderSource(FIXTURES);
let sd15: LoadedModel;
let sdxl: LoadedModel;

beforeAll(async () => {
  sd15 = await loadModel(subSource(root, 'models/tiny-sd15'));
  sdxl = await loadModel(subSource(root, 'models/tiny-sdxl'));
});
afterAll(async () => {
  await sd15?.release();
  await sdxl?.release();
});

const BASE: EncodePromptRequest = {
  prompt: 'a photo of an astronaut riding a horse on mars',
  negativePrompt: 'a blurry photo',
  guided: true,
  width: 16,
  height: 16,
};

/** A prompt without commas or brackets of `n` tokens for every tokenizer of `model` (one-token words). */
function promptOfTokens(model: LoadedModel, n: number): string {
  const candidates = ['a', 'red', 'house', 'tree', 'sky', 'cat', 'photo', 'of', 'the', 'on', 'in', 'b', 'c'];
  const single = candidates.filter((w) =>
    model.textEncoders.every((e) => e.tokenizer.tokenize(w).length === 1),
  );
  if (single.length < 2) throw new Error(`too few one-token words: ${single}`);
  const words = Array.from({ length: n }, (_, i) => single[i % single.length]!);
  const lengths = model.textEncoders.map((e) => e.tokenizer.tokenize(words.join(' ')).length);
  if (lengths.some((l) => l !== n)) throw new Error(`could not build a ${n}-token prompt: ${lengths}`);
  return words.join(' ');
}

const models = () =>
  [
    ['SD1.5', sd15],
    ['SDXL', sdxl],
  ] as const;

describe('prompt options off by default', () => {
  it('absent and false are the same encoding (SD1.5 and SDXL)', async () => {
    for (const [, m] of models()) {
      const plain = await encodePrompt(m, BASE);
      const off = await encodePrompt(m, { ...BASE, emphasis: false, longPrompts: false });
      expect(off).toEqual(plain);
    }
  });
});

describe('emphasis', () => {
  it('every weight 1 (no brackets) equals emphasis off exactly', async () => {
    for (const [, m] of models()) {
      const off = await encodePrompt(m, BASE);
      const on = await encodePrompt(m, { ...BASE, emphasis: true });
      expect(on.embeds).toEqual(off.embeds);
      expect(on.textEmbeds).toEqual(off.textEmbeds);
      expect(on.promptIds).toEqual(off.promptIds);
    }
  });

  it("scales each token's row by its weight and keeps the chunk's mean (SD1.5)", async () => {
    const prompt = 'a (photo:1.5) of an [astronaut] riding';
    const req = { ...BASE, prompt, guided: false };
    const on = await encodePrompt(sd15, { ...req, emphasis: true });
    const ids = on.promptIds[0]!;
    // The unweighted states of the same ids, straight from the text encoder.
    const raw = await runTextEncoder(sd15.textEncoders[0]!, ids);
    const tok = sd15.textEncoders[0]!.tokenizer;
    const weightOf = new Map<number, number>([
      ...tok.tokenize('photo').map((t) => [t, 1.5] as const),
      ...tok.tokenize('astronaut').map((t) => [t, 1 / 1.1] as const),
    ]);
    const weights = ids.map((id, i) => (i > 0 && weightOf.has(id) ? weightOf.get(id)! : 1));
    expect(weights.filter((w) => w !== 1).length).toBeGreaterThanOrEqual(2);
    const width = raw.hidden;
    const h = raw.lastHiddenState;
    let sum = 0;
    let weightedSum = 0;
    for (let i = 0; i < h.length; i++) {
      sum += h[i]!;
      weightedSum += h[i]! * weights[Math.floor(i / width)]!;
    }
    const c = sum / weightedSum;
    let worst = 0;
    let scale = 0;
    for (let i = 0; i < h.length; i++) {
      const want = h[i]! * weights[Math.floor(i / width)]! * c;
      worst = Math.max(worst, Math.abs(on.embeds[i]! - want));
      scale = Math.max(scale, Math.abs(want));
    }
    expect(worst).toBeLessThanOrEqual(1e-5 * scale);
    const off = await encodePrompt(sd15, { ...req, prompt: 'a photo of an astronaut riding' });
    expect(off.promptIds[0]).toEqual(ids);
    expect(Math.max(...on.embeds.map((v, i) => Math.abs(v - off.embeds[i]!)))).toBeGreaterThan(1e-3);
  });
});

describe('long prompts', () => {
  it('a prompt of <= 75 tokens gives exactly the result with the option off', async () => {
    for (const [, m] of models()) {
      for (const prompt of [BASE.prompt, promptOfTokens(m, 75)]) {
        const off = await encodePrompt(m, { ...BASE, prompt });
        const on = await encodePrompt(m, { ...BASE, prompt, longPrompts: true });
        expect(on).toEqual(off);
      }
    }
  });

  it('a prompt of 80 tokens is [1, 154, dim]: the cut prompt, then the rest encoded on its own', async () => {
    for (const [name, m] of models()) {
      const prompt = promptOfTokens(m, 80);
      const req = { ...BASE, prompt, guided: false };
      const off = await encodePrompt(m, req);
      const on = await encodePrompt(m, { ...req, longPrompts: true });
      expect([on.batch, on.sequence, on.dim], name).toEqual([1, 154, off.dim]);
      expect(on.embeds.length).toBe(154 * off.dim);
      expect(on.embeds.subarray(0, 77 * off.dim), name).toEqual(off.embeds);
      expect(
        on.truncated.every((t) => t === ''),
        name,
      ).toBe(true);
      expect(
        off.truncated.every((t) => t !== ''),
        name,
      ).toBe(true);
      // Chunk 2 by hand, per encoder: bos, tokens 75..79, eos, pad.
      const second: Float32Array[] = [];
      for (const enc of m.textEncoders) {
        const tok = enc.tokenizer;
        const rest = tok.tokenize(prompt).slice(75);
        const ids = [tok.bosId, ...rest, tok.eosId];
        while (ids.length < tok.maxLength) ids.push(tok.padId);
        const out = await runTextEncoder(enc, ids);
        second.push(m.family === 'sd' ? out.lastHiddenState : out.penultimateHiddenState);
      }
      const widths = m.textEncoders.map((e) => e.config.hiddenSize);
      for (let t = 0; t < 77; t++) {
        const row = on.embeds.subarray((77 + t) * off.dim, (78 + t) * off.dim);
        let at = 0;
        second.forEach((s, i) => {
          expect(row.subarray(at, at + widths[i]!)).toEqual(s.subarray(t * widths[i]!, (t + 1) * widths[i]!));
          at += widths[i]!;
        });
      }
      if (m.family === 'sdxl') expect(on.textEmbeds).toEqual(off.textEmbeds);
    }
  });

  it('with guidance, a short negative prompt is padded with the empty prompt to the same length', async () => {
    const prompt = promptOfTokens(sd15, 80);
    const on = await encodePrompt(sd15, { ...BASE, prompt, longPrompts: true });
    expect([on.batch, on.sequence]).toEqual([2, 154]);
    const negative = await encodePrompt(sd15, { ...BASE, prompt: BASE.negativePrompt!, guided: false });
    const empty = await encodePrompt(sd15, { ...BASE, prompt: '', guided: false });
    const rowBytes = 77 * on.dim;
    expect(on.embeds.subarray(0, rowBytes)).toEqual(negative.embeds);
    expect(on.embeds.subarray(rowBytes, 2 * rowBytes)).toEqual(empty.embeds);
  });
});
