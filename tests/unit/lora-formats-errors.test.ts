/**
 * Bad input and per-module parameters: unknown keys (lenient report / strict error), a LoRA for
 * another base (lora-shape-mismatch naming module and both shapes), broken files (lora-invalid
 * naming file and key), alphas read exactly from fp16/bf16, DoRA axes, inputs never mutated.
 */
import { describe, expect, it } from 'vitest';
import { readSafetensors, writeSafetensors } from '../../src/core/io/safetensors.ts';
import { convertLora } from '../../src/core/lora/convert.ts';
import { validateAdapter } from '../../src/core/lora/validate.ts';
import { FIX, fakeTensors, loraInput, pair, targetFromDir } from './lora-formats-helpers.ts';

const sd15 = targetFromDir(`${FIX}/configs/sd15`);
const sdxl = targetFromDir(`${FIX}/configs/sdxl`);
const tinySd15 = targetFromDir(`${FIX}/models/tiny-sd15`);

const Q = 'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q';

function thrown(f: () => unknown): { code?: string; message: string; details?: Record<string, unknown> } {
  try {
    f();
  } catch (e) {
    return e as { code?: string; message: string; details?: Record<string, unknown> };
  }
  throw new Error('expected a throw');
}

describe('unknown keys', () => {
  const tensors = fakeTensors({
    ...pair(`${Q}.lora_down.weight`, `${Q}.lora_up.weight`, 4, 320, 320),
    'bundle_emb.my_token.string_to_param.*': [2, 768],
    'lora_unet_down_blocks_0_nonexistent_layer.lora_down.weight': [4, 320],
    'lora_unet_down_blocks_0_nonexistent_layer.lora_up.weight': [320, 4],
  });
  const adapter = convertLora({ source: 'mixed.safetensors', tensors }, sd15);

  it('lenient (default): mapped modules load, every other key is listed with its reason', () => {
    expect(adapter.modules.map((m) => m.module)).toEqual([
      'down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q',
    ]);
    expect(adapter.unmapped.map((u) => u.key).sort()).toEqual([
      'bundle_emb.my_token.string_to_param.*',
      'lora_unet_down_blocks_0_nonexistent_layer.lora_down.weight',
      'lora_unet_down_blocks_0_nonexistent_layer.lora_up.weight',
    ]);
    for (const u of adapter.unmapped) expect(u.reason.length).toBeGreaterThan(10);
    expect(() => validateAdapter(adapter, sd15)).not.toThrow();
  });

  it('strict: lora-unmapped-keys naming the file and a key', () => {
    const e = thrown(() => validateAdapter(adapter, sd15, { strict: true }));
    expect(e.code).toBe('lora-unmapped-keys');
    expect(e.message).toContain('mixed.safetensors');
    expect(e.message).toContain('bundle_emb.my_token.string_to_param.*');
    expect(e.details?.unmapped).toHaveLength(3);
  });
});

describe('wrong base', () => {
  it('an SDXL LoRA (kohya, sgm names) on SD1.5 is refused with both shapes', () => {
    const k = 'lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k';
    const tensors = fakeTensors({
      [`${k}.lora_down.weight`]: [4, 2048],
      [`${k}.lora_up.weight`]: [640, 4],
      [`${k}.alpha`]: [],
    });
    const a = convertLora({ source: 'sdxl-style.safetensors', tensors }, sd15);
    // SDXL's input_blocks.4.1 is SD1.5's down_blocks.1.attentions.0 too, but its context is 768 wide.
    const onSdxl = convertLora({ source: 'sdxl-style.safetensors', tensors }, sdxl);
    expect(() => validateAdapter(onSdxl, sdxl)).not.toThrow();
    const e = thrown(() => validateAdapter(a, sd15));
    expect(e.code).toBe('lora-shape-mismatch');
    expect(e.message).toContain('unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k');
    expect(e.message).toContain('[640,2048]');
    expect(e.message).toContain('[640,768]');
    expect(e.message).toContain('sdxl-style.safetensors');
    expect(e.details).toMatchObject({ loraShape: [640, 2048], baseShape: [640, 768] });
  });

  it('the SDXL fixture LoRA on the tiny SD1.5 base is refused whole', () => {
    const a = convertLora(
      loraInput(`${FIX}/loras/sdxl-diffusers-trainscript/pytorch_lora_weights.safetensors`),
      tinySd15,
    );
    const e = thrown(() => validateAdapter(a, tinySd15));
    expect(e.code).toBe('lora-shape-mismatch');
    expect(e.message).toMatch(
      /module (unet|text_encoder)\.\S+ .*is \[[\d,]+\] but the base .* has \[[\d,]+\]/,
    );
  });

  it('a 1x1 conv and a linear are the same shape (SD1.5 conv proj_in <-> SD2 linear proj_in)', () => {
    const p = 'lora_unet_down_blocks_0_attentions_0_proj_in';
    const linear = fakeTensors({ [`${p}.lora_down.weight`]: [4, 320], [`${p}.lora_up.weight`]: [320, 4] });
    const conv = fakeTensors({
      [`${p}.lora_down.weight`]: [4, 320, 1, 1],
      [`${p}.lora_up.weight`]: [320, 4, 1, 1],
    });
    const sd2 = targetFromDir(`${FIX}/configs/sd2`);
    for (const t of [linear, conv]) {
      for (const base of [sd15, sd2])
        expect(() => validateAdapter(convertLora({ source: 'x', tensors: t }, base), base)).not.toThrow();
    }
    const conv3 = fakeTensors({
      [`${p}.lora_down.weight`]: [4, 320, 3, 3],
      [`${p}.lora_up.weight`]: [320, 4, 1, 1],
    });
    expect(thrown(() => validateAdapter(convertLora({ source: 'x', tensors: conv3 }, sd15), sd15)).code).toBe(
      'lora-shape-mismatch',
    );
  });
});

describe('broken files: lora-invalid naming file and key', () => {
  it('ranks of down and up disagree', () => {
    const tensors = fakeTensors({ [`${Q}.lora_down.weight`]: [4, 320], [`${Q}.lora_up.weight`]: [320, 8] });
    const e = thrown(() => convertLora({ source: 'bad-rank.safetensors', tensors }, sd15));
    expect(e.code).toBe('lora-invalid');
    expect(e.message).toContain('bad-rank.safetensors');
    expect(e.message).toContain(`${Q}.lora_up.weight`);
  });
  it('PEFT lora_A without lora_B', () => {
    const k = 'unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora_A.weight';
    const e = thrown(() =>
      convertLora({ source: 'half.safetensors', tensors: fakeTensors({ [k]: [4, 320] }) }, sd15),
    );
    expect(e.code).toBe('lora-invalid');
    expect(e.message).toContain('half.safetensors');
    expect(e.message).toContain(k);
    expect(e.message).toContain("'up'");
  });
  it('one module given twice (diffusers and LDM spelling)', () => {
    const tensors = fakeTensors({
      ...pair(
        'lora_unet_input_blocks_1_1_proj_in.lora_down.weight',
        'lora_unet_input_blocks_1_1_proj_in.lora_up.weight',
        4,
        320,
        320,
      ),
      ...pair(
        'lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight',
        'lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight',
        4,
        320,
        320,
      ),
    });
    expect(thrown(() => convertLora({ source: 'twice', tensors }, sd15)).code).toBe('lora-invalid');
  });
  it('mixed algorithms on one module', () => {
    const tensors = fakeTensors({
      ...pair(`${Q}.lora_down.weight`, `${Q}.lora_up.weight`, 4, 320, 320),
      [`${Q}.diff`]: [320, 320],
    });
    expect(thrown(() => convertLora({ source: 'mixed', tensors }, sd15)).code).toBe('lora-invalid');
  });
});

describe('alpha and rank per module', () => {
  function withAlpha(dtype: 'BF16' | 'F16', bits: number): number {
    const bytes = writeSafetensors([
      { name: `${Q}.lora_down.weight`, dtype: 'F32', shape: [4, 320], data: new Float32Array(4 * 320) },
      { name: `${Q}.lora_up.weight`, dtype: 'F32', shape: [320, 4], data: new Float32Array(320 * 4) },
      { name: `${Q}.alpha`, dtype, shape: [], data: new Uint16Array([bits]) },
    ]);
    const f = readSafetensors(bytes, 'a.safetensors');
    return convertLora({ source: 'a.safetensors', tensors: f }, sd15).modules[0]?.alpha ?? Number.NaN;
  }
  it('reads bf16 and fp16 alphas exactly', () => {
    // bf16 0x3DCD = (1 + 77/128) * 2^-4 = 205/2048; fp16 0x2E66 = (1 + 614/1024) * 2^-4 = 1638/16384.
    expect(withAlpha('BF16', 0x3dcd)).toBe(205 / 2048);
    expect(withAlpha('F16', 0x2e66)).toBe(1638 / 16384);
  });
  it('absent or 0 alpha means alpha = rank, per module; rank comes from the shapes', () => {
    const K = 'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_k';
    const V = 'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_v';
    const tensors = fakeTensors({
      ...pair(`${Q}.lora_down.weight`, `${Q}.lora_up.weight`, 4, 320, 320),
      ...pair(`${K}.lora_down.weight`, `${K}.lora_up.weight`, 8, 320, 320),
      [`${K}.alpha`]: { shape: [], values: [0] },
      ...pair(`${V}.lora_down.weight`, `${V}.lora_up.weight`, 16, 320, 320),
      [`${V}.alpha`]: { shape: [], values: [3] },
    });
    const a = convertLora({ source: 'x', tensors }, sd15);
    const by = Object.fromEntries(a.modules.map((m) => [m.module.split('.').at(-1), [m.rank, m.alpha]]));
    expect(by).toEqual({ to_q: [4, 4], to_k: [8, 8], to_v: [16, 3] });
  });
  it('PEFT metadata alpha_pattern and rank_pattern are matched to modules as PEFT does; rsLoRA folds sqrt(r)', () => {
    const P = 'unet.down_blocks.0.attentions.0.transformer_blocks.0';
    const tensors = fakeTensors({
      ...pair(`${P}.attn1.to_q.lora_A.weight`, `${P}.attn1.to_q.lora_B.weight`, 4, 320, 320),
      ...pair(`${P}.attn2.to_q.lora_A.weight`, `${P}.attn2.to_q.lora_B.weight`, 4, 320, 320),
      ...pair(`${P}.ff.net.2.lora_A.weight`, `${P}.ff.net.2.lora_B.weight`, 16, 1280, 320),
    });
    const meta = (extra: Record<string, unknown>) => ({
      lora_adapter_metadata: JSON.stringify({
        'unet.r': 4,
        'unet.lora_alpha': 2,
        'unet.rank_pattern': { 'ff.net.2': 16 },
        ...extra,
      }),
    });
    const a = convertLora(
      { source: 'x', tensors, metadata: meta({ 'unet.alpha_pattern': { 'attn2.to_q': 8, 'ff.net.2': 32 } }) },
      sd15,
    );
    const by = Object.fromEntries(
      a.modules.map((m) => [m.module.split('.').slice(-2).join('.'), [m.rank, m.alpha]]),
    );
    expect(by).toEqual({ 'attn1.to_q': [4, 2], 'attn2.to_q': [4, 8], 'net.2': [16, 32] });
    // '1.to_q' is not a whole dotted suffix of 'attn1.to_q': it must not match.
    const b = convertLora(
      { source: 'x', tensors, metadata: meta({ 'unet.alpha_pattern': { '1.to_q': 8 } }) },
      sd15,
    );
    expect(b.modules.every((m) => m.alpha === 2)).toBe(true);
    const rs = convertLora({ source: 'x', tensors, metadata: meta({ 'unet.use_rslora': true }) }, sd15);
    const ff = rs.modules.find((m) => m.module.endsWith('ff.net.2'));
    // PEFT rsLoRA scale is alpha / sqrt(r) = 2 / 4; stored so that alpha / rank gives it.
    expect((ff?.alpha ?? 0) / (ff?.rank ?? 1)).toBeCloseTo(2 / 4, 12);
  });
});

describe('DoRA axis from the magnitude shape', () => {
  const P = 'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k';
  const base = pair(`${P}.lora_down.weight`, `${P}.lora_up.weight`, 4, 768, 320);
  it.each([
    [[320, 1], 'out'],
    [[1, 768], 'in'],
  ])('dora_scale %j -> %s axis (lycoris style); the wrong size is a shape mismatch', (shape, axis) => {
    const a = convertLora(
      { source: 'x', tensors: fakeTensors({ ...base, [`${P}.dora_scale`]: shape }) },
      sd15,
    );
    expect(a.modules[0]?.dora).toMatchObject({ axis, style: 'lycoris' });
    expect(() => validateAdapter(a, sd15)).not.toThrow();
  });
  it('a magnitude of the wrong length is refused', () => {
    const a = convertLora(
      { source: 'x', tensors: fakeTensors({ ...base, [`${P}.dora_scale`]: [1, 320] }) },
      sd15,
    );
    expect(thrown(() => validateAdapter(a, sd15)).code).toBe('lora-shape-mismatch');
  });
});

describe('purity', () => {
  it('never mutates its input (tensor data and metadata are copied)', () => {
    const input = loraInput(`${FIX}/loras/sd15-kohya/sd15-kohya.safetensors`);
    const before = input.tensors.names().map((n) => Array.from(input.tensors.float32(n)));
    const meta = JSON.stringify(input.metadata);
    const a = convertLora(input, tinySd15);
    for (const m of a.modules) for (const f of Object.values(m.factors)) f.data.fill(7);
    a.metadata.extra = 'x';
    expect(input.tensors.names().map((n) => Array.from(input.tensors.float32(n)))).toEqual(before);
    expect(JSON.stringify(input.metadata)).toBe(meta);
  });
});
