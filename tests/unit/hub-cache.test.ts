import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsHubCache } from '../../src/core/io/hub/fs-cache.ts';
import { CacheStorageHubCache, downloadFile, type HubCache, resolveRevision } from '../../src/core/io/hub.ts';
import { type HubServer, startHubServer } from '../hub-server.ts';

/**
 * An in-memory stand-in for the browser's CacheStorage with the semantics we rely on: `put` reads
 * the whole body first and stores nothing when the body errors; keys are request URLs.
 */
class FakeCache {
  readonly entries = new Map<string, { body: Uint8Array; headers: Headers }>();
  async match(req: RequestInfo | URL): Promise<Response | undefined> {
    const e = this.entries.get(urlOf(req));
    return e ? new Response(e.body.slice(), { headers: e.headers }) : undefined;
  }
  async put(req: RequestInfo | URL, res: Response): Promise<void> {
    const body = new Uint8Array(await res.arrayBuffer());
    this.entries.set(urlOf(req), { body, headers: new Headers(res.headers) });
  }
  async keys(): Promise<Request[]> {
    return [...this.entries.keys()].map((u) => new Request(u));
  }
  async delete(req: RequestInfo | URL): Promise<boolean> {
    return this.entries.delete(urlOf(req));
  }
}
function urlOf(req: RequestInfo | URL): string {
  return typeof req === 'string' ? req : req instanceof URL ? req.href : req.url;
}
class FakeCacheStorage {
  readonly caches = new Map<string, FakeCache>();
  async open(name: string): Promise<FakeCache> {
    let c = this.caches.get(name);
    if (!c) {
      c = new FakeCache();
      this.caches.set(name, c);
    }
    return c;
  }
}

const key = { repo: 'org/name', commit: 'a'.repeat(40), path: 'unet/diffusion model.safetensors' };
const ref = { hubUrl: 'https://huggingface.co', repo: 'org/name', revision: 'refs/pr/1' };
const bytes = new Uint8Array([1, 2, 3, 4, 5, 6, 7]);

function contract(name: string, make: () => Promise<HubCache>) {
  describe(`${name} (HubCache contract)`, () => {
    it('stores files by repo + commit + path, refs and listings, lists, sizes and deletes per repo', async () => {
      const cache = await make();
      expect(await cache.getFile(key)).toBeUndefined();
      await cache.putFile(key, new Blob([bytes]), bytes.length);
      expect(new Uint8Array(await (await cache.getFile(key))!.arrayBuffer())).toEqual(bytes);
      expect(await cache.getFile({ ...key, commit: 'b'.repeat(40) })).toBeUndefined();
      await cache.putFile({ ...key, repo: 'single' }, new Blob([bytes.subarray(0, 3)]), 3);
      await cache.putRef(ref, key.commit);
      expect(await cache.getRef(ref)).toBe(key.commit);
      expect(await cache.getRef({ ...ref, hubUrl: 'http://127.0.0.1:5174' })).toBeUndefined();
      await cache.putListing(key.repo, key.commit, [{ path: 'a', size: 1, type: 'file' }]);
      expect(await cache.getListing(key.repo, key.commit)).toEqual([{ path: 'a', size: 1, type: 'file' }]);
      const listed = (await cache.listCached()).sort((a, b) => a.repo.localeCompare(b.repo));
      expect(listed).toEqual([
        { ...key, size: 7 },
        { ...key, repo: 'single', size: 3 },
      ]);
      expect(await cache.size()).toBe(10);
      expect(await cache.delete('org/name')).toBe(7);
      expect(await cache.getRef(ref)).toBeUndefined();
      expect(await cache.getListing(key.repo, key.commit)).toBeUndefined();
      expect(await cache.size()).toBe(3);
    });

    it('a stream that errors leaves no entry', async () => {
      const cache = await make();
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(bytes);
          c.error(new Error('connection lost'));
        },
      });
      await expect(cache.putFile(key, stream, 100)).rejects.toThrow();
      expect(await cache.getFile(key)).toBeUndefined();
      expect(await cache.listCached()).toEqual([]);
    });
  });
}

const dirs: string[] = [];
contract('FsHubCache', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lorafuse-cache-'));
  dirs.push(dir);
  return new FsHubCache(dir);
});
contract(
  'CacheStorageHubCache',
  async () => new CacheStorageHubCache(new FakeCacheStorage() as unknown as CacheStorage),
);

describe('downloads into the Cache Storage cache', () => {
  let hub: HubServer;
  beforeAll(async () => {
    hub = await startHubServer();
  });
  afterAll(async () => {
    await hub.close();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('resumes into the cache, then serves offline from it', async () => {
    const storage = new FakeCacheStorage();
    const cache = new CacheStorageHubCache(storage as unknown as CacheStorage);
    const repo = 'fixtures/tiny-sdxl';
    const path = 'unet/diffusion_pytorch_model.safetensors';
    hub.faults.cutAfterBytes = 2_000_000;
    const online = new Uint8Array(
      await (
        await downloadFile(repo, path, { hubUrl: hub.url, cache, retry: { baseDelayMs: 5 } })
      ).arrayBuffer(),
    );
    const direct = new Uint8Array(
      await (await fetch(`${hub.url}/${repo}/resolve/main/${path}`)).arrayBuffer(),
    );
    expect(Buffer.from(online).equals(Buffer.from(direct))).toBe(true);
    expect(hub.stats.requests.some((r) => r.range === 'bytes=2000000-' && r.status === 206)).toBe(true);
    const commit = await resolveRevision(repo, { hubUrl: hub.url });
    expect((await cache.listCached()).map((f) => [f.repo, f.commit, f.path, f.size])).toEqual([
      [repo, commit, path, direct.length],
    ]);
    const offline = await downloadFile(repo, path, { hubUrl: 'http://127.0.0.1:9', cache, revision: commit });
    expect(offline.size).toBe(direct.length);
  });

  it('an interrupted download that cannot resume leaves nothing in the fs cache', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lorafuse-cache-'));
    dirs.push(dir);
    const cache = new FsHubCache(dir);
    // Cut every body request; no progress after the first cut -> bounded retries, then hub-network.
    let cuts = 0;
    const cutting: typeof fetch = async (input, init) => {
      const isBody =
        String(input).includes('/resolve/') && new Headers(init?.headers).get('Range') !== 'bytes=0-0';
      if (isBody) {
        cuts += 1;
        hub.faults.cutAfterBytes = 0;
      }
      return fetch(input, init);
    };
    await expect(
      downloadFile('fixtures/tiny-sd15', 'vae/diffusion_pytorch_model.safetensors', {
        hubUrl: hub.url,
        cache,
        fetch: cutting,
        retry: { retries: 2, baseDelayMs: 5 },
      }),
    ).rejects.toMatchObject({ code: 'hub-network' });
    expect(cuts).toBe(3);
    expect(await cache.listCached()).toEqual([]);
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
  });
});
