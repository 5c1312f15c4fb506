/**
 * Key lists of real LoRA files (tests/fixtures/realkeys, rank cut to 1) map with zero unmapped
 * keys against the config-only full-size bases, with the per-component module counts that
 * expected.json records; a doubled-prefix file is reported, not guessed.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { convertLora } from '../../src/core/lora/convert.ts';
import { validateAdapter } from '../../src/core/lora/validate.ts';
import { FIX, fakeTensors, loraInput, readJson, targetFromDir } from './lora-formats-helpers.ts';

interface Expected {
  file: string;
  base: string;
  modules: number;
  components: Record<string, number>;
  unmapped: number;
  keys: number;
}

const DIR = `${FIX}/realkeys`;
const expected = readJson<Record<string, Expected>>(`${DIR}/expected.json`);

describe.each(Object.entries(expected))('real key list %s', (_name, e) => {
  it('maps every key with the expected module counts and fits the full-size base', () => {
    const target = targetFromDir(join(DIR, e.base));
    const input = loraInput(join(DIR, e.file));
    expect(input.tensors.names().length).toBe(e.keys);
    const adapter = convertLora(input, target);
    expect(adapter.unmapped.length).toBe(e.unmapped);
    expect(adapter.modules.length).toBe(e.modules);
    const counts: Record<string, number> = {};
    for (const m of adapter.modules) counts[m.component] = (counts[m.component] ?? 0) + 1;
    expect(counts).toEqual(e.components);
    expect(() => validateAdapter(adapter, target, { strict: true })).not.toThrow();
  });
});

describe('real-world naming quirks', () => {
  const sd15 = targetFromDir(`${FIX}/configs/sd15`);

  it('reports doubled prefixes (lora_unet_unet_...) as unmapped with a reason, never guessed', () => {
    const tensors = fakeTensors({
      'lora_unet_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight': [4, 320, 1, 1],
      'lora_unet_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight': [320, 4, 1, 1],
      'lora_unet_unet_down_blocks_0_attentions_0_proj_in.alpha': [],
      'lora_te_text_encoder_text_model_encoder_layers_0_mlp_fc1.lora_down.weight': [4, 768],
    });
    const a = convertLora({ source: 'doubled.safetensors', tensors }, sd15);
    expect(a.modules).toEqual([]);
    expect(a.unmapped.map((u) => u.key).sort()).toEqual(tensors.names().sort());
    for (const u of a.unmapped) expect(u.reason).toMatch(/doubled component prefix/);
    expect(() => validateAdapter(a, sd15, { strict: true })).toThrow(
      expect.objectContaining({ code: 'lora-unmapped-keys' }),
    );
  });

  it('raw PEFT takes alpha from adapter_config.json (faithsang: r=4, lora_alpha=16)', () => {
    const input = loraInput(`${DIR}/files/peft_adapter_sd15_faithsang.safetensors`);
    const noConfig = convertLora(input, sd15);
    // Rank 1 in the cut-down file; without the config alpha = rank.
    expect(new Set(noConfig.modules.map((m) => m.alpha / m.rank))).toEqual(new Set([1]));
    expect(new Set(noConfig.modules.map((m) => m.format))).toEqual(new Set(['raw-peft']));
    const withConfig = convertLora({ ...input, peftConfig: { r: 4, lora_alpha: 16 } }, sd15);
    expect(new Set(withConfig.modules.map((m) => m.alpha))).toEqual(new Set([16]));
  });

  it('the attn-procs file (no unet. prefix, to_out without .0) lands on to_out.0', () => {
    const a = convertLora(loraInput(`${DIR}/files/diffusers_attnprocs_sd15_catundchat.safetensors`), sd15);
    const outs = a.modules.filter((m) => m.module.endsWith('.to_out.0'));
    expect(outs.length).toBe(32);
    expect(new Set(a.modules.map((m) => m.format))).toEqual(new Set(['diffusers-attn-proc']));
  });
});
