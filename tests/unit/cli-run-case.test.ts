/**
 * `lorafuse run-case`, run as users run it (`node bin/lorafuse.js run-case ...`): the written
 * safetensors holds every output the case lists, within the README tolerance of Diffusers' stored
 * outputs; `--compare` exits 1 when a stored output is off (a copy with one value moved by 0.01);
 * a LoRA case runs on the adapter manager and passes (every public case: cli-run-case-lora.test.ts).
 * The three runs go in parallel (each pays onnxruntime-web's start-up once).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors, type TensorToWrite, writeSafetensors } from '../../src/core/io/safetensors.ts';

const FIX = join(import.meta.dirname, '..', 'fixtures');
const tmp = mkdtempSync(join(tmpdir(), 'lorafuse-run-case-'));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['bin/lorafuse.js', 'run-case', ...args]);
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => {
      stdout += d;
    });
    p.stderr.on('data', (d) => {
      stderr += d;
    });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const PIPE = 'tiny-sdxl_pipe_euler_g5_latent_base';
const out = join(tmp, `${PIPE}.safetensors`);
let runs: { pipe: Run; tampered: Run; lora: Run };

/** The VAE case with its stored output moved by 0.01 at one element, in a folder outside cases/. */
function tamperedVaeCase(): string {
  const json = JSON.parse(readFileSync(join(FIX, 'cases', 'tiny-sd15_vae_decode.json'), 'utf8'));
  const buf = readFileSync(join(FIX, 'cases', json.tensors_file));
  const f = readSafetensors(new Uint8Array(buf), json.tensors_file);
  const tensors: TensorToWrite[] = f.names().map((name) => {
    const data = f.float32(name);
    if (name === 'outputs.out') data[5]! += 0.01;
    return { name, dtype: 'F32', shape: [...f.info(name).shape], data };
  });
  writeFileSync(join(tmp, 'tampered.safetensors'), writeSafetensors(tensors));
  const path = join(tmp, 'tampered.json');
  writeFileSync(path, JSON.stringify({ ...json, tensors_file: 'tampered.safetensors' }));
  return path;
}

beforeAll(async () => {
  const tampered = tamperedVaeCase();
  const [pipe, t, lora] = await Promise.all([
    cli(join(FIX, 'cases', `${PIPE}.json`), '-o', out, '--compare'),
    cli(tampered, '--compare', '--root', FIX),
    cli(
      join(FIX, 'cases', 'tiny-sd15_unet_sd15-kohya.json'),
      '-o',
      join(tmp, 'lora.safetensors'),
      '--compare',
    ),
  ]);
  runs = { pipe, tampered: t, lora };
}, 120_000);

describe('lorafuse run-case', () => {
  it('writes every listed output, within 1e-3 of Diffusers (pipeline tolerance)', () => {
    expect(runs.pipe.code, runs.pipe.stderr).toBe(0);
    const json = JSON.parse(readFileSync(join(FIX, 'cases', `${PIPE}.json`), 'utf8'));
    const mine = readSafetensors(new Uint8Array(readFileSync(out)), out);
    const buf = readFileSync(join(FIX, 'cases', json.tensors_file));
    const ref = readSafetensors(new Uint8Array(buf), json.tensors_file);
    const expected = Object.keys(json.outputs).map((k) => `outputs.${k}`);
    expect(mine.names().sort()).toEqual(expected.sort());
    for (const name of expected) {
      expect(mine.info(name).shape).toEqual(ref.info(name).shape);
      const a = mine.float32(name);
      const b = ref.float32(name);
      let m = 0;
      for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
      expect(m, name).toBeLessThanOrEqual(1e-3);
    }
    expect(runs.pipe.stdout).toContain(`${PIPE}: all ${expected.length} outputs within 0.001`);
  });

  it('--compare exits 1 when an output is off by more than the tolerance', () => {
    expect(runs.tampered.code, runs.tampered.stderr).toBe(1);
    expect(runs.tampered.stdout).toMatch(/FAIL out +max abs 1\.00e-2/);
  });

  it('a case with LoRA state ops runs on the adapter manager, within 1e-4 of Diffusers', () => {
    expect(runs.lora.code, runs.lora.stderr).toBe(0);
    expect(runs.lora.stdout).toMatch(/tiny-sd15_unet_sd15-kohya: all \d+ outputs within 0\.0001/);
  });
});
