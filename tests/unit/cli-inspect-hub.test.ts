/**
 * `lorafuse inspect FILE --base REPO` with a Hub repo id: names and shapes come from the configs
 * alone, so only model_index.json and each component's config.json are downloaded (never weights).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { type HubServer, startHubServer } from '../hub-server.ts';

let hub: HubServer;
const saved = { endpoint: process.env.HF_ENDPOINT, cache: process.env.LORAFUSE_CACHE_DIR };

beforeAll(async () => {
  hub = await startHubServer();
  process.env.HF_ENDPOINT = hub.url;
  process.env.LORAFUSE_CACHE_DIR = mkdtempSync(join(tmpdir(), 'lorafuse-inspect-hub-'));
});
afterAll(async () => {
  await hub.close();
  process.env.HF_ENDPOINT = saved.endpoint;
  process.env.LORAFUSE_CACHE_DIR = saved.cache;
  if (saved.endpoint === undefined) delete process.env.HF_ENDPOINT;
  if (saved.cache === undefined) delete process.env.LORAFUSE_CACHE_DIR;
});

async function inspectJson(
  file: string,
  base: string,
): Promise<{ rc: number; json: Record<string, unknown> }> {
  const out: string[] = [];
  const log = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out.push(String(chunk));
    return true;
  });
  try {
    const rc = await main(['inspect', file, '--base', base, '--json']);
    return { rc, json: JSON.parse(out.join('')) as Record<string, unknown> };
  } finally {
    log.mockRestore();
  }
}

describe('inspect --base <Hub repo>', () => {
  it.each([
    ['tests/fixtures/loras/sd15-kohya/sd15-kohya.safetensors', 'fixtures/tiny-sd15'],
    ['tests/fixtures/loras/sdxl-kohya/sdxl-kohya.safetensors', 'fixtures/tiny-sdxl'],
  ])('%s against %s fetches configs only', async (file, repo) => {
    hub.stats.reset();
    const { rc, json } = await inspectJson(file, repo);
    expect(rc).toBe(0);
    expect(json.modules).toBeGreaterThan(0);
    expect(json.unmapped).toEqual([]);
    const files = hub.stats.requests.filter((r) => r.url.includes('/resolve/')).map((r) => r.url);
    expect(files.length).toBeGreaterThan(0);
    for (const u of files) expect(u).toMatch(/(model_index|config)\.json(\?|$)/);
  });

  it('a LoRA for the wrong base is reported as a shape mismatch, still from configs only', async () => {
    hub.stats.reset();
    const { rc, json } = await inspectJson(
      'tests/fixtures/loras/sdxl-kohya/sdxl-kohya.safetensors',
      'fixtures/tiny-sd15',
    );
    expect(rc).toBe(0);
    expect(JSON.stringify(json.validation)).toContain('"ok":false');
    expect(hub.stats.requests.some((r) => r.url.endsWith('.safetensors'))).toBe(false);
  });
});
