import { readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, describeBackend } from '../../src/core/engine/engine.ts';
import { normalizeHubUrl } from '../../src/core/engine/hub-url.ts';
import { LorafuseError } from '../../src/errors.ts';
import { type HubServer, startHubServer } from '../hub-server.ts';

const TINY_SD15 = fileURLToPath(new URL('../fixtures/models/tiny-sd15', import.meta.url));

function walkFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory()
      ? walkFiles(join(dir, d.name))
      : [relative(TINY_SD15, join(dir, d.name)).split(sep).join('/')],
  );
}

/** A GPU whose adapter has the given features; enough for the probe. */
function fakeGpu(adapter: { features: string[] } | null): GPU {
  return {
    requestAdapter: async () =>
      adapter && {
        features: new Set(adapter.features),
        limits: { maxBufferSize: 1024 },
        info: { vendor: 'acme', architecture: 'rdna9', device: '', description: 'Acme GPU' },
      },
  } as unknown as GPU;
}

async function rejection(p: Promise<unknown>): Promise<LorafuseError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof LorafuseError) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

describe('engine status', () => {
  it('without navigator.gpu: the wasm backend, with the reason', async () => {
    const engine = createEngine({ gpu: undefined });
    const status = await engine.getStatus();
    expect(status.backend).toBe('wasm');
    expect(status.webgpu.available).toBe(false);
    expect(status.backendReason).toMatch(
      /^WebGPU is unavailable \(WebGPU is not available here.*wasm backend/,
    );
    expect(engine.getStatus()).toBe(engine.getStatus());
  });

  it('without an adapter: the wasm backend, saying no adapter was returned', async () => {
    const status = await createEngine({ gpu: fakeGpu(null) }).getStatus();
    expect(status.backend).toBe('wasm');
    expect(status.backendReason).toMatch(/no GPU adapter/);
  });

  it('with an adapter: WebGPU, naming it and whether shader-f16 is there', async () => {
    const f16 = await createEngine({ gpu: fakeGpu({ features: ['shader-f16'] }) }).getStatus();
    expect(f16.backend).toBe('webgpu');
    expect(f16.backendReason).toBe('WebGPU on acme rdna9; shader-f16 present: f16 weights stay f16.');
    const f32 = await createEngine({ gpu: fakeGpu({ features: [] }) }).getStatus();
    expect(f32.backendReason).toMatch(/no shader-f16/);
  });

  it('describeBackend names an adapter without vendor info', () => {
    const s = describeBackend({
      available: true,
      adapter: { vendor: '', architecture: '', device: '', description: '' },
      features: [],
      limits: {},
      shaderF16: false,
    });
    expect(s.backendReason).toMatch(/^WebGPU on unnamed adapter;/);
  });
});

describe('normalizeHubUrl', () => {
  it.each([
    ['https://huggingface.co/', 'https://huggingface.co'],
    [' http://127.0.0.1:8080// ', 'http://127.0.0.1:8080'],
    ['https://mirror.example/hf/', 'https://mirror.example/hf'],
  ])('%s -> %s', (input, out) => expect(normalizeHubUrl(input)).toBe(out));

  it.each(['', 'huggingface.co', 'ftp://x', 'javascript:alert(1)'])('refuses %j', (input) => {
    expect(() => normalizeHubUrl(input)).toThrow(LorafuseError);
  });
});

describe('engine Hub listing against the local Hub', () => {
  let hub: HubServer;
  beforeAll(async () => {
    hub = await startHubServer();
  });
  afterAll(() => hub.close());

  it('lists every file of fixtures/tiny-sd15 with its size', async () => {
    const engine = createEngine({ gpu: undefined });
    await engine.setHubOptions({ hubUrl: `${hub.url}/` });
    const entries = await engine.listRepoFiles('fixtures/tiny-sd15');
    const files = entries.filter((e) => e.type === 'file');
    expect(files.map((f) => f.path).sort()).toEqual(walkFiles(TINY_SD15).sort());
    for (const f of files) expect(f.size, f.path).toBe(statSync(join(TINY_SD15, f.path)).size);
    expect(hub.stats.requests.every((r) => r.url.startsWith('/api/models/fixtures/tiny-sd15/'))).toBe(true);
  });

  it('a missing repo is hub-not-found naming the repo', async () => {
    const engine = createEngine({ gpu: undefined });
    await engine.setHubOptions({ hubUrl: hub.url });
    const err = await rejection(engine.listRepoFiles('fixtures/nope'));
    expect(err.code).toBe('hub-not-found');
    expect(err.message).toContain('fixtures/nope');
  });

  it('refuses a Hub URL that is not http(s) before any request', async () => {
    const err = await rejection(createEngine({ gpu: undefined }).setHubOptions({ hubUrl: 'file:///etc' }));
    expect(err.code).toBe('invalid-argument');
  });
});
