/** `lorafuse inspect`, run as users run it: `node bin/lorafuse.js inspect ...` (exit codes, stdout). */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeSafetensors } from '../../src/core/io/safetensors.ts';
import { FIX } from './lora-formats-helpers.ts';

function inspect(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/lorafuse.js', 'inspect', ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function json(args: string[]): Record<string, unknown> & {
  modules: number;
  components: Record<string, { modules: number }>;
  unmapped: { key: string; reason: string }[];
} {
  const r = inspect(...args, '--json');
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

const tmp = mkdtempSync(join(tmpdir(), 'lorafuse-inspect-'));
const Q = 'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q';

describe('lorafuse inspect', () => {
  it('--json with --base: modules, components, ranks, alphas, no unmapped keys, shapes fit', () => {
    const r = json([`${FIX}/loras/sd15-kohya/sd15-kohya.safetensors`, '--base', `${FIX}/models/tiny-sd15`]);
    expect(r.modules).toBe(60);
    expect(r.components).toMatchObject({
      unet: { modules: 48, ranks: [4], alphas: [2] },
      text_encoder: { modules: 12, alphas: [1] },
    });
    expect(r.unmapped).toEqual([]);
    expect(r.validation).toEqual({ ok: true, shapeMismatches: [] });
    expect(r.formats).toEqual([{ format: 'kohya', keys: 180 }]);
  });

  it('a config-only --base folder is enough', () => {
    const base = join(tmp, 'config-only');
    for (const c of ['unet', 'text_encoder']) {
      mkdirSync(join(base, c), { recursive: true });
      copyFileSync(`${FIX}/models/tiny-sd15/${c}/config.json`, join(base, c, 'config.json'));
    }
    writeFileSync(
      join(base, 'model_index.json'),
      JSON.stringify({
        _class_name: 'StableDiffusionPipeline',
        unet: ['diffusers', 'UNet2DConditionModel'],
        text_encoder: ['transformers', 'CLIPTextModel'],
      }),
    );
    const r = json([`${FIX}/lycoris/sd15-loha.safetensors`, '--base', base]);
    expect(r.modules).toBe(22);
    expect(r.components).toMatchObject({
      unet: { modules: 19, kinds: ['loha'] },
      text_encoder: { modules: 3 },
    });
    expect(r.validation).toEqual({ ok: true, shapeMismatches: [] });
  });

  it('without --base: names resolved against the built-in configs (real SD1.5 key list)', () => {
    const r = json([`${FIX}/realkeys/files/kohya_sd15_add_detail.safetensors`]);
    expect(r.modules).toBe(264);
    expect(r.components).toMatchObject({ unet: { modules: 192 }, text_encoder: { modules: 72 } });
    expect(r.unmapped).toEqual([]);
    expect(r.base).toEqual({ name: 'sd15 (built-in configs)', assumed: true });
    expect(r.validation).toBeNull();
  });

  it('a LoRA for another base: exit 0, every mismatch and unmapped key reported', () => {
    const r = json([`${FIX}/loras/sdxl-kohya/sdxl-kohya.safetensors`, '--base', `${FIX}/models/tiny-sd15`]);
    const v = r.validation as {
      ok: boolean;
      shapeMismatches: { module: string; loraShape: number[]; baseShape: number[] }[];
    };
    expect(v.ok).toBe(false);
    expect(v.shapeMismatches.length).toBeGreaterThan(0);
    // one entry per file key that maps nowhere (lora_te2_ keys: SD1.5 has no second text encoder)
    expect(r.unmapped.filter((u) => u.key.startsWith('lora_te2_')).length).toBe(24);
    expect(new Set(r.unmapped.map((u) => u.key)).size).toBe(r.unmapped.length);
  });

  it('unmapped keys and NaN/Inf are reported, exit 0; text mode says so too', () => {
    const file = join(tmp, 'odd.safetensors');
    const up = new Float32Array(320 * 4);
    up[3] = Number.NaN;
    up[5] = Number.POSITIVE_INFINITY;
    writeFileSync(
      file,
      writeSafetensors([
        { name: `${Q}.lora_down.weight`, dtype: 'F32', shape: [4, 320], data: new Float32Array(4 * 320) },
        { name: `${Q}.lora_up.weight`, dtype: 'F32', shape: [320, 4], data: up },
        {
          name: 'bundle_emb.token.string_to_param.*',
          dtype: 'F32',
          shape: [1, 768],
          data: new Float32Array(768),
        },
        {
          name: 'lora_unet_not_a_module.lora_down.weight',
          dtype: 'F32',
          shape: [4, 320],
          data: new Float32Array(4 * 320),
        },
      ]),
    );
    const r = json([file, '--base', `${FIX}/configs/sd15`]);
    expect(r.modules).toBe(1);
    expect(r.unmapped.map((u) => u.key).sort()).toEqual([
      'bundle_emb.token.string_to_param.*',
      'lora_unet_not_a_module.lora_down.weight',
    ]);
    expect(r.nonFinite).toEqual([
      { module: 'unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q', factor: 'up', count: 2 },
    ]);
    const text = inspect(file);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('unmapped keys: 2');
    expect(text.stdout).toContain('NaN/Inf');
  });

  it('an unreadable or invalid file exits non-zero with the error code and one line', () => {
    const garbage = join(tmp, 'garbage.safetensors');
    writeFileSync(garbage, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]));
    const g = inspect(garbage, '--json');
    expect(g.code).not.toBe(0);
    expect(g.stdout).toBe('');
    expect(g.stderr.trim().split('\n')).toHaveLength(1);
    expect(g.stderr).toContain('[safetensors-invalid]');

    const bad = join(tmp, 'bad-rank.safetensors');
    writeFileSync(
      bad,
      writeSafetensors([
        { name: `${Q}.lora_down.weight`, dtype: 'F32', shape: [4, 320], data: new Float32Array(4 * 320) },
        { name: `${Q}.lora_up.weight`, dtype: 'F32', shape: [320, 8], data: new Float32Array(320 * 8) },
      ]),
    );
    const b = inspect(bad, '--json');
    expect(b.code).not.toBe(0);
    expect(b.stderr).toContain('[lora-invalid]');
    expect(b.stderr).toContain(`${Q}.lora_up.weight`);

    const missing = inspect(join(tmp, 'nope.safetensors'));
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('[invalid-argument]');
  });
});
