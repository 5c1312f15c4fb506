/**
 * The engine's LoRA methods against the local Hub: inspectLora really downloads and converts the
 * fixture files (expected counts from tests/fixtures/loras/index.json, written by Diffusers/PEFT),
 * listLoraFiles keeps .safetensors only, searchLoras filters by base model.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoraDownloadProgress, LoraSummary } from '../../src/api.ts';
import { createEngine } from '../../src/core/engine/engine.ts';
import { hubFileFromUrl } from '../../src/core/engine/lora-bytes.ts';
import { fileStem } from '../../src/core/engine/lora-summary.ts';
import { readSafetensors, writeSafetensors } from '../../src/core/io/safetensors.ts';
import { LorafuseError } from '../../src/errors.ts';
import { type HubServer, startHubServer } from '../hub-server.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures', import.meta.url));

interface IndexEntry {
  file: string;
  bytes: number;
  num_tensors: number;
  components: Record<string, { num_modules: number; ranks: number[]; alphas: number[] }>;
}
const INDEX = JSON.parse(readFileSync(join(FIXTURES, 'loras', 'index.json'), 'utf8')) as Record<
  string,
  IndexEntry
>;

/** The dtypes named in a safetensors header, read straight from the JSON (independent of our reader). */
function headerDtypes(bytes: Uint8Array): string[] {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<
    string,
    { dtype?: string }
  >;
  return [
    ...new Set(Object.entries(header).flatMap(([k, v]) => (k === '__metadata__' ? [] : [v.dtype ?? '']))),
  ].sort();
}

function expectMatchesIndex(s: LoraSummary, entry: IndexEntry): void {
  const components = Object.fromEntries(
    s.components.map((c) => [c.component, { num_modules: c.modules, ranks: c.ranks, alphas: c.alphas }]),
  );
  const expected = Object.fromEntries(
    Object.entries(entry.components).map(([c, v]) => [
      c,
      { num_modules: v.num_modules, ranks: v.ranks, alphas: v.alphas },
    ]),
  );
  expect(components).toEqual(expected);
  // The file on disk, not index.json's `bytes` (stale for sd15-peft-metadata: 204848 vs 204816).
  expect(s.byteSize).toBe(statSync(join(FIXTURES, entry.file)).size);
  expect(s.keys).toBe(entry.num_tensors);
  expect(s.unmapped).toEqual([]);
  const modules = Object.values(entry.components).reduce((n, c) => n + c.num_modules, 0);
  expect(s.moduleIds).toHaveLength(modules);
  expect(s.ranks).toEqual(
    [...new Set(Object.values(entry.components).flatMap((c) => c.ranks))].sort((a, b) => a - b),
  );
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

let hub: HubServer;
beforeAll(async () => {
  hub = await startHubServer();
});
afterAll(() => hub.close());

describe('inspectLora', () => {
  it('downloads a kohya LoRA from a repo with progress and reports it as in index.json', async () => {
    const engine = createEngine({ gpu: undefined, hubCache: undefined });
    await engine.setHubOptions({ hubUrl: hub.url });
    const progress: LoraDownloadProgress[] = [];
    const s = await engine.inspectLora(
      { repo: 'fixtures/sd15-kohya', weightName: 'sd15-kohya.safetensors' },
      (p) => progress.push(p),
    );
    const entry = INDEX['sd15-kohya']!;
    expectMatchesIndex(s, entry);
    expect(s.name).toBe('sd15-kohya');
    expect(s.formats).toEqual([{ format: 'kohya', modules: 60 }]);
    expect(s.dtypes).toEqual(headerDtypes(new Uint8Array(readFileSync(join(FIXTURES, entry.file)))));
    expect(s.base).toEqual({ name: 'sd15 (built-in configs)', assumed: true });
    // SD1.5: down blocks 0-2 and up blocks 1-3 carry attentions, and the mid block has one.
    expect(s.unetBlocks).toEqual({ down: [0, 1, 2], mid: true, up: [1, 2, 3] });
    expect(progress.at(-1)).toEqual({
      loaded: entry.bytes,
      total: entry.bytes,
      file: 'fixtures/sd15-kohya/sd15-kohya.safetensors',
    });
  });

  it('reads a Hub resolve URL as that repo file, and bytes from the page', async () => {
    const engine = createEngine({ gpu: undefined, hubCache: undefined });
    await engine.setHubOptions({ hubUrl: hub.url });
    const entry = INDEX['sd15-peft-metadata']!;
    const viaUrl = await engine.inspectLora({
      url: `${hub.url}/fixtures/sd15-peft-metadata/resolve/main/pytorch_lora_weights.safetensors`,
    });
    expectMatchesIndex(viaUrl, entry);
    expect(viaUrl.formats.map((f) => f.format)).toEqual(['peft']);
    const bytes = new Uint8Array(readFileSync(join(FIXTURES, entry.file)));
    const viaBytes = await engine.inspectLora({ bytes, name: 'my-style.safetensors' });
    expectMatchesIndex(viaBytes, entry);
    expect(viaBytes.name).toBe('my-style');
  });

  it('resolves an SDXL kohya file against the SDXL base', async () => {
    const engine = createEngine({ gpu: undefined, hubCache: undefined });
    await engine.setHubOptions({ hubUrl: hub.url });
    const s = await engine.inspectLora({ repo: 'fixtures/sdxl-kohya', weightName: 'sdxl-kohya.safetensors' });
    expectMatchesIndex(s, INDEX['sdxl-kohya']!);
    expect(s.base.name).toBe('sdxl (built-in configs)');
    // SDXL base: down blocks 1-2 and up blocks 0-1 carry attentions (block 0 / 2 are plain).
    expect(s.unetBlocks).toEqual({ down: [1, 2], mid: true, up: [0, 1] });
  });

  it('reports keys that map to nothing, with their reason', async () => {
    const src = readSafetensors(
      new Uint8Array(readFileSync(join(FIXTURES, INDEX['sd15-kohya']!.file))),
      'sd15-kohya.safetensors',
    );
    const tensors = src.names().map((name) => ({ ...src.info(name), name, data: src.raw(name) }));
    const extra = {
      name: 'lora_unet_not_a_module.lora_down.weight',
      dtype: 'F32' as const,
      shape: [1, 1],
      data: new Float32Array([1]),
    };
    const bytes = writeSafetensors([
      ...tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: t.data })),
      extra,
    ]);
    const engine = createEngine({ gpu: undefined, hubCache: undefined });
    const s = await engine.inspectLora({ bytes, name: 'odd.safetensors' });
    expect(s.unmapped.map((u) => u.key)).toEqual([extra.name]);
    expect(s.unmapped[0]!.reason).toContain('not_a_module');
    expect(s.components.find((c) => c.component === 'unet')?.modules).toBe(48);
  });

  it('refuses pickles, broken files and missing repos with their codes', async () => {
    const engine = createEngine({ gpu: undefined, hubCache: undefined });
    await engine.setHubOptions({ hubUrl: hub.url });
    expect((await rejection(engine.inspectLora({ bytes: new Uint8Array(8), name: 'x.ckpt' }))).code).toBe(
      'pickle-refused',
    );
    const zip = new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect((await rejection(engine.inspectLora({ bytes: zip, name: 'x.safetensors' }))).code).toBe(
      'pickle-refused',
    );
    expect(
      (await rejection(engine.inspectLora({ bytes: new Uint8Array(3), name: 'x.safetensors' }))).code,
    ).toBe('safetensors-invalid');
    const missing = await rejection(
      engine.inspectLora({ repo: 'fixtures/no-such-lora', weightName: 'a.safetensors' }),
    );
    expect(missing.code).toBe('hub-not-found');
    expect(missing.message).toContain('fixtures/no-such-lora');
  });
});

describe('listLoraFiles and searchLoras', () => {
  it('lists only the .safetensors files of a repo, with sizes', async () => {
    const engine = createEngine({ gpu: undefined, hubCache: undefined });
    await engine.setHubOptions({ hubUrl: hub.url });
    const files = await engine.listLoraFiles('fixtures/sd15-kohya');
    expect(files.map((f) => [f.path, f.size])).toEqual([
      ['sd15-kohya.safetensors', INDEX['sd15-kohya']!.bytes],
    ]);
  });

  it('finds LoRAs by base model', async () => {
    const engine = createEngine({ gpu: undefined, hubCache: undefined });
    await engine.setHubOptions({ hubUrl: hub.url });
    const sdxl = await engine.searchLoras({ baseModel: 'fixtures/tiny-sdxl' });
    // Oracle: the fixture folders whose index entries name models/tiny-sdxl (one repo per folder).
    const expected = [
      ...new Set(
        Object.values(INDEX)
          .filter((e) => (e as unknown as { model: string }).model === 'models/tiny-sdxl')
          .map((e) => `fixtures/${e.file.split('/')[1]}`),
      ),
    ].sort();
    expect(sdxl.map((h) => h.repo).sort()).toEqual(expected);
    expect(sdxl.every((h) => h.baseModels.includes('fixtures/tiny-sdxl'))).toBe(true);
    const named = await engine.searchLoras({ baseModel: 'fixtures/tiny-sd15', search: 'kohya' });
    const kohyaSd15 = Object.values(INDEX)
      .filter((e) => (e as unknown as { model: string }).model === 'models/tiny-sd15')
      .map((e) => `fixtures/${e.file.split('/')[1]}`)
      .filter((repo) => repo.includes('kohya'));
    expect(named.map((h) => h.repo).sort()).toEqual([...new Set(kohyaSd15)].sort());
  });
});

describe('helpers', () => {
  it('reads Hub file URLs of the configured Hub only', () => {
    expect(
      hubFileFromUrl('http://127.0.0.1:9/a/b/resolve/main/x/y.safetensors', 'http://127.0.0.1:9'),
    ).toEqual({
      repo: 'a/b',
      weightName: 'x/y.safetensors',
      revision: 'main',
    });
    expect(
      hubFileFromUrl('https://huggingface.co/a/b/blob/v1/y.safetensors', 'https://huggingface.co'),
    ).toMatchObject({
      revision: 'v1',
    });
    expect(
      hubFileFromUrl('https://example.com/a/b/resolve/main/y.safetensors', 'https://huggingface.co'),
    ).toBeNull();
    expect(hubFileFromUrl('https://huggingface.co/a/b', 'https://huggingface.co')).toBeNull();
  });

  it('names a file by its stem', () => {
    expect(fileStem('https://x.org/dl/My%20Style.safetensors?token=1')).toBe('My Style');
    expect(fileStem('owner/repo/sub/a.b.safetensors')).toBe('a.b');
  });
});
