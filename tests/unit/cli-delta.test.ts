/**
 * `lorafuse delta` against the fixtures: for every LoRA in tests/fixtures/loras/ the output equals
 * tests/fixtures/deltas/<lora>.safetensors (W_fused - W_base from Diffusers/PEFT), and for every
 * LyCORIS file <name>.deltas.safetensors (from LyCORIS's own code), weight and bias keys alike.
 * Tolerance: max abs error <= 1e-5 x max |ΔW| over the file (float32 vs torch float32; the
 * observed error is below 5e-7 relative).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { readSafetensors, writeSafetensors } from '../../src/core/io/safetensors.ts';
import { type HubServer, startHubServer } from '../hub-server.ts';

const FIX = 'tests/fixtures';
const tmp = mkdtempSync(join(tmpdir(), 'lorafuse-delta-'));

interface LoraEntry {
  file: string;
  model: string;
}
const loras = JSON.parse(readFileSync(`${FIX}/loras/index.json`, 'utf8')) as Record<string, LoraEntry>;
const lycoris = JSON.parse(readFileSync(`${FIX}/lycoris/index.json`, 'utf8')) as Record<
  string,
  { file: string; deltas: string; model: string }
>;

function load(path: string): Map<string, { shape: number[]; data: Float32Array }> {
  const f = readSafetensors(new Uint8Array(readFileSync(path)), path);
  return new Map(f.names().map((n) => [n, { shape: f.info(n).shape, data: f.float32(n) }]));
}

function compare(actualPath: string, expectedPath: string): void {
  const actual = load(actualPath);
  const expected = load(expectedPath);
  expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
  let maxRef = 0;
  let maxErr = 0;
  for (const [key, e] of expected) {
    const a = actual.get(key)!;
    expect(a.shape, key).toEqual(e.shape);
    for (let i = 0; i < e.data.length; i++) {
      maxRef = Math.max(maxRef, Math.abs(e.data[i]!));
      maxErr = Math.max(maxErr, Math.abs(a.data[i]! - e.data[i]!));
    }
  }
  expect(maxRef).toBeGreaterThan(0);
  expect(maxErr).toBeLessThanOrEqual(1e-5 * maxRef);
}

async function delta(file: string, base: string, out: string, extra: string[] = []): Promise<number> {
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  try {
    return await main(['delta', file, '--base', base, '-o', out, ...extra]);
  } finally {
    log.mockRestore();
  }
}

afterEach(() => vi.restoreAllMocks());

describe('lorafuse delta on the Diffusers fixtures', () => {
  for (const [name, entry] of Object.entries(loras)) {
    it(name, async () => {
      const out = join(tmp, `${name}.safetensors`);
      expect(await delta(`${FIX}/${entry.file}`, `${FIX}/${entry.model}`, out)).toBe(0);
      compare(out, `${FIX}/deltas/${name}.safetensors`);
    });
  }
});

describe('lorafuse delta on the LyCORIS fixtures', () => {
  for (const [name, entry] of Object.entries(lycoris)) {
    it(name, async () => {
      const out = join(tmp, `${name}.safetensors`);
      expect(await delta(`${FIX}/${entry.file}`, `${FIX}/${entry.model}`, out)).toBe(0);
      compare(out, `${FIX}/${entry.deltas}`);
    });
  }
});

describe('lorafuse delta options and failures', () => {
  it('--weight scales a linear LoRA delta', async () => {
    const out = join(tmp, 'half.safetensors');
    expect(
      await delta(`${FIX}/${loras['sd15-kohya']!.file}`, `${FIX}/models/tiny-sd15`, out, ['--weight', '0.5']),
    ).toBe(0);
    const half = load(out);
    const full = load(`${FIX}/deltas/sd15-kohya.safetensors`);
    let err = 0;
    for (const [key, f] of full) {
      const h = half.get(key)!;
      for (let i = 0; i < f.data.length; i++) err = Math.max(err, Math.abs(h.data[i]! - 0.5 * f.data[i]!));
    }
    expect(err).toBeLessThanOrEqual(1e-7);
  });

  it('DoRA with a config-only base fails with a clear error', async () => {
    const base = join(tmp, 'config-only');
    for (const part of ['', 'unet', 'text_encoder']) {
      const dir = join(base, part);
      (await import('node:fs')).mkdirSync(dir, { recursive: true });
      const from = join(`${FIX}/models/tiny-sd15`, part, part ? 'config.json' : 'model_index.json');
      writeFileSync(join(dir, part ? 'config.json' : 'model_index.json'), readFileSync(from));
    }
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    // A plain LoRA works without weights ...
    expect(await delta(`${FIX}/${loras['sd15-kohya']!.file}`, base, join(tmp, 'cfg.safetensors'))).toBe(0);
    // ... DoRA does not.
    expect(await delta(`${FIX}/${loras['sd15-dora']!.file}`, base, join(tmp, 'cfg-dora.safetensors'))).toBe(
      1,
    );
    expect(err.mock.calls.flat().join('\n')).toMatch(/DoRA.*base weight/);
  });

  it('NaN factors are refused with lora-nonfinite, naming the file and the key', async () => {
    const src = readSafetensors(new Uint8Array(readFileSync(`${FIX}/${loras['sd15-kohya']!.file}`)), 'src');
    const bad = 'lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight';
    const tensors = src.names().map((name) => {
      const data = src.float32(name);
      if (name === bad) data[3] = Number.NaN;
      return { name, dtype: 'F32' as const, shape: src.info(name).shape, data };
    });
    const file = join(tmp, 'nan.safetensors');
    writeFileSync(file, writeSafetensors(tensors, src.header.metadata));
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    expect(await delta(file, `${FIX}/models/tiny-sd15`, join(tmp, 'nan-out.safetensors'))).toBe(1);
    const msg = err.mock.calls.flat().join('\n');
    expect(msg).toContain('lora-nonfinite');
    expect(msg).toContain('nan.safetensors');
    expect(msg).toContain(bad);
  });

  it('a LoRA for another base is refused by module and shapes', async () => {
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    expect(
      await delta(
        `${FIX}/${loras['sdxl-kohya']!.file}`,
        `${FIX}/models/tiny-sd15`,
        join(tmp, 'x.safetensors'),
      ),
    ).toBe(1);
    expect(err.mock.calls.flat().join('\n')).toMatch(
      /lora-shape-mismatch.*module unet\..*\[64,64\].*\[64,32\]/,
    );
  });

  it('keys that match no module of the base are refused by name', async () => {
    const src = readSafetensors(new Uint8Array(readFileSync(`${FIX}/${loras['sd15-kohya']!.file}`)), 'src');
    const tensors = src
      .names()
      .map((name) => ({ name, dtype: 'F32' as const, shape: src.info(name).shape, data: src.float32(name) }));
    const stray = 'lora_unet_down_blocks_9_attentions_0_proj_in.lora_down.weight';
    tensors.push({ name: stray, dtype: 'F32', shape: [1, 1], data: new Float32Array(1) });
    const file = join(tmp, 'stray.safetensors');
    writeFileSync(file, writeSafetensors(tensors, src.header.metadata));
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    expect(await delta(file, `${FIX}/models/tiny-sd15`, join(tmp, 'stray-out.safetensors'))).toBe(1);
    expect(err.mock.calls.flat().join('\n')).toMatch(
      new RegExp(`lora-unmapped-keys.*${stray.replaceAll('.', '\\.')}`),
    );
  });
});

describe('lorafuse convert', () => {
  for (const [name, to] of [
    ['sd15-kohya', 'peft'],
    ['sdxl-diffusers-trainscript', 'kohya'],
    ['sd15-dora', 'kohya'],
  ] as const) {
    it(`${name} --to ${to}, then delta, gives the fixture's deltas`, async () => {
      const entry = loras[name]!;
      const converted = join(tmp, `${name}-${to}.safetensors`);
      const log = vi.spyOn(console, 'log').mockImplementation(() => {});
      expect(
        await main([
          'convert',
          `${FIX}/${entry.file}`,
          '--to',
          to,
          '--base',
          `${FIX}/${entry.model}`,
          '-o',
          converted,
        ]),
      ).toBe(0);
      log.mockRestore();
      const keys = readSafetensors(new Uint8Array(readFileSync(converted)), converted).names();
      expect(
        keys.every((k) => (to === 'kohya' ? k.startsWith('lora_') : /^(unet|text_encoder(_2)?)\./.test(k))),
      ).toBe(true);
      const out = join(tmp, `${name}-${to}-delta.safetensors`);
      expect(await delta(converted, `${FIX}/${entry.model}`, out)).toBe(0);
      compare(out, `${FIX}/deltas/${name}.safetensors`);
    });
  }

  it('refuses LyCORIS kinds for --to peft, naming the module', async () => {
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    const code = await main([
      'convert',
      `${FIX}/lycoris/sd15-loha.safetensors`,
      '--to',
      'peft',
      '--base',
      `${FIX}/models/tiny-sd15`,
      '-o',
      join(tmp, 'x'),
    ]);
    expect(code).toBe(1);
    expect(err.mock.calls.flat().join('\n')).toMatch(/not-implemented.*loha.*--to kohya/);
  });
});

describe('--base as a Hub repo id', () => {
  let hub: HubServer;
  const env = { ...process.env };
  beforeAll(async () => {
    hub = await startHubServer();
    process.env.HF_ENDPOINT = hub.url;
    process.env.LORAFUSE_CACHE_DIR = join(tmp, 'hub-cache');
  });
  afterAll(async () => {
    process.env = env;
    await hub.close();
  });

  it('a plain LoRA needs the configs only: no weights are downloaded', async () => {
    hub.stats.reset();
    const out = join(tmp, 'hub-kohya.safetensors');
    expect(await delta(`${FIX}/${loras['sd15-kohya']!.file}`, 'fixtures/tiny-sd15', out)).toBe(0);
    compare(out, `${FIX}/deltas/sd15-kohya.safetensors`);
    expect(hub.stats.requests.some((r) => r.url.endsWith('.safetensors'))).toBe(false);
  });

  it('DoRA downloads the base weights it needs', async () => {
    hub.stats.reset();
    const out = join(tmp, 'hub-dora.safetensors');
    expect(await delta(`${FIX}/${loras['sd15-dora']!.file}`, 'fixtures/tiny-sd15', out)).toBe(0);
    compare(out, `${FIX}/deltas/sd15-dora.safetensors`);
    expect(hub.stats.requests.some((r) => r.url.endsWith('unet/diffusion_pytorch_model.safetensors'))).toBe(
      true,
    );
  });
});
