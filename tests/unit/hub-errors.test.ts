import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadFile, listRepoFiles, resolveRevision, searchModels } from '../../src/core/io/hub.ts';
import { LorafuseError } from '../../src/errors.ts';
import { type HubServer, PRIVATE_LORA_REPO, startHubServer, TEST_TOKEN } from '../hub-server.ts';

async function failure(p: Promise<unknown>): Promise<LorafuseError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(LorafuseError);
    return e as LorafuseError;
  }
  throw new Error('expected a rejection');
}

describe('hub errors', () => {
  let hub: HubServer;
  beforeAll(async () => {
    hub = await startHubServer();
  });
  afterAll(() => hub.close());

  it('unknown repo -> hub-not-found naming the repo, the hub and the advice', async () => {
    for (const call of [
      listRepoFiles('fixtures/nope', { hubUrl: hub.url }),
      resolveRevision('fixtures/nope', { hubUrl: hub.url }),
      downloadFile('fixtures/nope', 'config.json', { hubUrl: hub.url }),
    ]) {
      const e = await failure(call);
      expect(e.code).toBe('hub-not-found');
      expect(e.message).toBe(
        `Repository 'fixtures/nope' was not found on ${hub.url} (check the id and the revision)`,
      );
      expect(e.details).toMatchObject({ repo: 'fixtures/nope', hubUrl: hub.url, revision: 'main' });
    }
  });

  it('unknown file -> hub-not-found naming the file', async () => {
    const e = await failure(
      downloadFile('fixtures/tiny-sd15', 'unet/missing.safetensors', { hubUrl: hub.url }),
    );
    expect(e.code).toBe('hub-not-found');
    expect(e.message).toContain(
      "File 'unet/missing.safetensors' was not found in repository 'fixtures/tiny-sd15'",
    );
    expect(e.details).toMatchObject({ repo: 'fixtures/tiny-sd15', path: 'unet/missing.safetensors' });
  });

  it('unknown revision -> hub-not-found naming the revision', async () => {
    const e = await failure(listRepoFiles('fixtures/tiny-sd15', { hubUrl: hub.url, revision: 'v9' }));
    expect(e.code).toBe('hub-not-found');
    expect(e.message).toContain("Revision 'v9'");
  });

  it('private repo: 401 without a token or with a wrong one -> hub-unauthorized; the token opens it', async () => {
    const none = await failure(listRepoFiles(PRIVATE_LORA_REPO, { hubUrl: hub.url }));
    expect(none.code).toBe('hub-unauthorized');
    expect(none.message).toMatch(/add a Hugging Face access token in Settings/);
    const wrong = await failure(
      downloadFile(PRIVATE_LORA_REPO, 'sd15-kohya.safetensors', { hubUrl: hub.url, token: 'hf_wrong' }),
    );
    expect(wrong.code).toBe('hub-unauthorized');
    expect(wrong.message).toMatch(/refused the access token/);
    const badShape = await failure(listRepoFiles(PRIVATE_LORA_REPO, { hubUrl: hub.url, token: 'abc' }));
    expect(badShape.code).toBe('hub-unauthorized');
    expect(hub.stats.requests.filter((r) => r.status === 401).length).toBe(2);

    const files = await listRepoFiles(PRIVATE_LORA_REPO, { hubUrl: hub.url, token: TEST_TOKEN });
    expect(files.map((f) => f.path)).toEqual(['sd15-kohya.safetensors']);
    const blob = await downloadFile(PRIVATE_LORA_REPO, 'sd15-kohya.safetensors', {
      hubUrl: hub.url,
      token: TEST_TOKEN,
    });
    const disk = readFileSync(
      join(import.meta.dirname, '..', 'fixtures', 'loras', 'sd15-kohya', 'sd15-kohya.safetensors'),
    );
    expect(Buffer.from(await blob.arrayBuffer()).equals(disk)).toBe(true);
    // Private repos never show up in anonymous search.
    expect((await searchModels({ search: 'private' }, { hubUrl: hub.url })).length).toBe(0);
  });

  it('invalid repo ids -> hub-invalid-repo before any request', async () => {
    const before = hub.stats.requests.length;
    for (const bad of ['models/fixtures/tiny-sd15', 'a/b/c', '', 'bad id', 'x/..', '-x/y', 'a--b/c']) {
      const e = await failure(listRepoFiles(bad, { hubUrl: hub.url }));
      expect(e.code).toBe('hub-invalid-repo');
      expect(e.details).toEqual({ repo: bad });
    }
    expect(hub.stats.requests.length).toBe(before);
  });

  it('server stopped and no cache -> hub-network saying cached files still work', async () => {
    const other = await startHubServer();
    const url = other.url;
    await other.close();
    for (const call of [
      listRepoFiles('fixtures/tiny-sd15', { hubUrl: url }),
      downloadFile('fixtures/tiny-sd15', 'model_index.json', { hubUrl: url }),
      searchModels({ filter: ['lora'] }, { hubUrl: url }),
    ]) {
      const e = await failure(call);
      expect(e.code).toBe('hub-network');
      expect(e.message).toContain(`The Hub at ${url} is unreachable`);
      expect(e.message).toContain('still work offline');
    }
  });
});
