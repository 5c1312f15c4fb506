/**
 * The engine's offline pieces: Hub calls go through the injected Hub cache (so a listing works with
 * the Hub down), and storage persistence / estimates come from the StorageManager it is given.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/core/engine/engine.ts';
import { FsHubCache } from '../../src/core/io/hub/fs-cache.ts';
import { LorafuseError } from '../../src/errors.ts';
import { type HubServer, startHubServer } from '../hub-server.ts';

let dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  dirs = [];
});

async function tempCache(): Promise<FsHubCache> {
  const dir = await mkdtemp(join(tmpdir(), 'lorafuse-pwa-engine-'));
  dirs.push(dir);
  return new FsHubCache(dir);
}

/** A StorageManager as a page has it (`persist` present) or as a worker has it (`persist` absent). */
function fakeStorage(opts: { page: boolean; grant: boolean; usage: number; quota: number }) {
  let persisted = false;
  const calls: string[] = [];
  const storage = {
    estimate: async () => ({ usage: opts.usage, quota: opts.quota }),
    persisted: async () => {
      calls.push('persisted');
      return persisted;
    },
    ...(opts.page
      ? {
          persist: async () => {
            calls.push('persist');
            persisted = opts.grant;
            return persisted;
          },
        }
      : {}),
  };
  return { storage: storage as unknown as StorageManager, calls };
}

describe('engine Hub cache', () => {
  let hub: HubServer | undefined;
  afterEach(async () => {
    await hub?.close();
    hub = undefined;
  });

  it('lists a repo again from the cache with the Hub stopped; an uncached repo is hub-network', async () => {
    hub = await startHubServer();
    const hubUrl = hub.url;
    const engine = createEngine({ gpu: undefined, hubCache: await tempCache(), storage: undefined });
    await engine.setHubOptions({ hubUrl });
    const online = await engine.listRepoFiles('fixtures/tiny-sd15');
    expect(online.some((f) => f.path === 'unet/diffusion_pytorch_model.safetensors')).toBe(true);

    await hub.close();
    hub = undefined;
    expect(await engine.listRepoFiles('fixtures/tiny-sd15')).toEqual(online);
    const err = await engine.listRepoFiles('fixtures/tiny-sdxl').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LorafuseError);
    expect((err as LorafuseError).code).toBe('hub-network');
  });

  it('without a cache (hubCache: undefined) nothing is kept: offline the same listing fails', async () => {
    hub = await startHubServer();
    const engine = createEngine({ gpu: undefined, hubCache: undefined, storage: undefined });
    await engine.setHubOptions({ hubUrl: hub.url });
    await engine.listRepoFiles('fixtures/tiny-sd15');
    await hub.close();
    hub = undefined;
    await expect(engine.listRepoFiles('fixtures/tiny-sd15')).rejects.toMatchObject({ code: 'hub-network' });
  });
});

describe('engine storage', () => {
  it('asks for persistence where persist() exists (a page), and says what the browser granted', async () => {
    const granted = fakeStorage({ page: true, grant: true, usage: 1, quota: 2 });
    expect(await createEngine({ gpu: undefined, storage: granted.storage }).persistStorage()).toBe(true);
    expect(granted.calls).toEqual(['persist']);

    const refused = fakeStorage({ page: true, grant: false, usage: 1, quota: 2 });
    expect(await createEngine({ gpu: undefined, storage: refused.storage }).persistStorage()).toBe(false);
  });

  it('in a worker (no persist()), reports persisted() instead of asking', async () => {
    const worker = fakeStorage({ page: false, grant: true, usage: 1, quota: 2 });
    expect(await createEngine({ gpu: undefined, storage: worker.storage }).persistStorage()).toBe(false);
    expect(worker.calls).toEqual(['persisted']);
  });

  it('estimates usage, quota, persistence and the bytes of cached Hub files', async () => {
    const cache = await tempCache();
    const bytes = new Uint8Array(1234).fill(7);
    await cache.putFile(
      { repo: 'a/b', commit: 'c'.repeat(40), path: 'x.safetensors' },
      new Blob([bytes]),
      1234,
    );
    const { storage } = fakeStorage({ page: true, grant: true, usage: 5_000, quota: 9_000_000 });
    const engine = createEngine({ gpu: undefined, storage, hubCache: cache });
    expect(await engine.getStorageEstimate()).toEqual({
      usage: 5_000,
      quota: 9_000_000,
      persisted: false,
      hubCacheBytes: 1234,
    });
    await engine.persistStorage();
    expect((await engine.getStorageEstimate())?.persisted).toBe(true);
  });

  it('without a Storage API (Node) the estimate is null and nothing is persistent', async () => {
    const engine = createEngine({ gpu: undefined, storage: undefined, hubCache: undefined });
    expect(await engine.getStorageEstimate()).toBeNull();
    expect(await engine.persistStorage()).toBe(false);
  });
});
