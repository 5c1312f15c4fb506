/**
 * Bad LoRA input, through the user-facing path (`lorafuse delta`, which reads, converts,
 * validates and merges): for each failure class the command fails with the right error code, and
 * the one-line message names the file and, where there is one, the key.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { readSafetensors, type TensorToWrite, writeSafetensors } from '../../src/core/io/safetensors.ts';

const BASE = 'tests/fixtures/models/tiny-sd15';
const KOHYA = 'tests/fixtures/loras/sd15-kohya/sd15-kohya.safetensors';
const SDXL = 'tests/fixtures/loras/sdxl-kohya/sdxl-kohya.safetensors';
const tmp = mkdtempSync(join(tmpdir(), 'lorafuse-bad-'));

/** The kohya fixture's tensors as F32, to be altered by each case. */
function kohyaTensors(): TensorToWrite[] {
  const f = readSafetensors(new Uint8Array(readFileSync(KOHYA)), KOHYA);
  return f.names().map((name) => ({ name, dtype: 'F32', shape: f.info(name).shape, data: f.float32(name) }));
}

function save(name: string, bytes: Uint8Array): string {
  const path = join(tmp, name);
  writeFileSync(path, bytes);
  return path;
}

let errors: string[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  errors = [];
});

async function delta(file: string): Promise<number> {
  vi.spyOn(console, 'log').mockImplementation(() => {});
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => {
    errors.push(a.map(String).join(' '));
  });
  return main(['delta', file, '--base', BASE, '-o', join(tmp, 'out.safetensors')]);
}

function expectFailure(rc: number, code: string, ...mustName: string[]): void {
  expect(rc).not.toBe(0);
  const line = errors.join('\n');
  expect(line).toContain(`[${code}]`);
  for (const s of mustName) expect(line).toContain(s);
  expect(line).not.toMatch(/\n\s+at /); // no stack trace without --debug
}

describe('bad LoRA input is refused with a code naming file and key', () => {
  it('truncated file', async () => {
    const whole = readFileSync(KOHYA);
    const path = save('truncated.safetensors', whole.subarray(0, Math.floor(whole.length * 0.6)));
    expectFailure(await delta(path), 'safetensors-invalid', 'truncated.safetensors');
  });

  it('pickle file, whatever its extension', async () => {
    // A protocol-2 pickle stream (what torch.save wrote before zip files) and a zip checkpoint.
    const pickle = Uint8Array.from([
      0x80, 0x02, 0x7d, 0x71, 0x00, 0x28, 0x58, 0x01, 0, 0, 0, 0x61, 0x71, 0x01, 0x2e,
    ]);
    expectFailure(await delta(save('model.safetensors', pickle)), 'pickle-refused', 'model.safetensors');
    const zip = Uint8Array.from([0x50, 0x4b, 0x03, 0x04, ...new Array(60).fill(0)]);
    expectFailure(await delta(save('lora.safetensors', zip)), 'pickle-refused', 'lora.safetensors');
    expectFailure(await delta(save('lora.ckpt', zip)), 'pickle-refused', 'lora.ckpt');
  });

  it('unknown keys', async () => {
    const t = kohyaTensors();
    const key = 'lora_unet_no_such_block_0_proj.lora_down.weight';
    t.push({ name: key, dtype: 'F32', shape: [2, 4], data: new Float32Array(8) });
    const path = save('unknown-keys.safetensors', writeSafetensors(t));
    expectFailure(await delta(path), 'lora-unmapped-keys', 'unknown-keys.safetensors', key);
  });

  it('wrong base: an SDXL LoRA on an SD1.5 model', async () => {
    expectFailure(await delta(SDXL), 'lora-shape-mismatch', 'sdxl-kohya.safetensors');
    expect(errors.join('\n')).toMatch(/\[\d+(,\d+)*\].*\[\d+(,\d+)*\]/); // both shapes
  });

  it('NaN and Inf factors', async () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
      errors = [];
      const t = kohyaTensors();
      const victim = t.find((x) => x.name.endsWith('.lora_up.weight'))!;
      (victim.data as Float32Array)[0] = bad;
      const path = save(`nonfinite-${bad}.safetensors`, writeSafetensors(t));
      expectFailure(await delta(path), 'lora-nonfinite', `nonfinite-${bad}.safetensors`, victim.name);
    }
  });

  it('inconsistent ranks between down and up', async () => {
    const t = kohyaTensors();
    const up = t.find((x) => x.name.endsWith('.lora_up.weight') && x.shape.length === 2)!;
    const [out, r] = up.shape as [number, number];
    up.shape = [out, r + 1];
    up.data = new Float32Array(out * (r + 1));
    const path = save('ranks.safetensors', writeSafetensors(t));
    expectFailure(
      await delta(path),
      'lora-invalid',
      'ranks.safetensors',
      up.name.replace('.lora_up.weight', ''),
    );
  });
});
