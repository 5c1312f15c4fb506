import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsHubCache } from '../../src/core/io/hub/fs-cache.ts';
import {
  type DownloadProgress,
  downloadFile,
  fileUrl,
  listRepoFiles,
  resolveRevision,
} from '../../src/core/io/hub.ts';
import { type HubServer, startHubServer } from '../hub-server.ts';

const REPO = 'fixtures/tiny-sd15';
const BIG = 'unet/diffusion_pytorch_model.safetensors';
const diskBytes = (rel: string) =>
  new Uint8Array(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'models', 'tiny-sd15', rel)));
const bytesOf = async (b: Blob) => new Uint8Array(await b.arrayBuffer());
const fast = { retries: 4, baseDelayMs: 5 };
/** Index of the first differing byte, -1 when equal (vitest's toEqual is very slow on MB-sized arrays). */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}
const expectSameBytes = (a: Uint8Array, b: Uint8Array) => expect(firstDifference(a, b)).toBe(-1);

describe('hub download', () => {
  let hub: HubServer;
  let dir: string;
  beforeEach(async () => {
    hub = await startHubServer();
    dir = await mkdtemp(join(tmpdir(), 'lorafuse-hub-'));
  });
  afterEach(async () => {
    await hub.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('the biggest file of the repo is the UNet', async () => {
    const files = await listRepoFiles(REPO, { hubUrl: hub.url });
    const biggest = files.reduce((a, b) => (b.size > a.size ? b : a));
    expect(biggest.path).toBe(BIG);
  });

  it('downloads with monotonic progress, equals the disk, then reads it from the cache with the server stopped', async () => {
    const expected = diskBytes(BIG);
    const cache = new FsHubCache(dir);
    const events: DownloadProgress[] = [];
    const blob = await downloadFile(REPO, BIG, { hubUrl: hub.url, cache, onProgress: (p) => events.push(p) });
    expectSameBytes(await bytesOf(blob), expected);
    expect(events.length).toBeGreaterThan(2);
    for (let i = 1; i < events.length; i++)
      expect(events[i]!.loaded).toBeGreaterThanOrEqual(events[i - 1]!.loaded);
    expect(events.every((e) => e.total === expected.length && e.path === BIG)).toBe(true);
    expect(events.at(-1)!.loaded).toBe(expected.length);
    // Nothing half-written is left in tmp/.
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
    const listed = await cache.listCached();
    expect(listed.map((f) => [f.repo, f.path, f.size])).toEqual([[REPO, BIG, expected.length]]);
    expect(await cache.size()).toBe(expected.length);

    const commit = await resolveRevision(REPO, { hubUrl: hub.url });
    expect(listed[0]!.commit).toBe(commit);
    await hub.close();
    // Offline: `main` resolves through the cached ref; the file comes from the cache.
    expect(await resolveRevision(REPO, { hubUrl: hub.url, cache })).toBe(commit);
    const offline = await downloadFile(REPO, BIG, { hubUrl: hub.url, cache, retry: fast });
    expectSameBytes(await bytesOf(offline), expected);
    // A file never fetched is a network error offline, not a silent miss.
    await expect(
      downloadFile(REPO, 'vae/config.json', { hubUrl: hub.url, cache, retry: fast }),
    ).rejects.toMatchObject({
      code: 'hub-network',
    });
    expect(await cache.delete(REPO)).toBe(expected.length);
    expect(await cache.listCached()).toEqual([]);
    await expect(downloadFile(REPO, BIG, { hubUrl: hub.url, cache, retry: fast })).rejects.toMatchObject({
      code: 'hub-network',
    });
  });

  it('a cached listing answers offline too', async () => {
    const cache = new FsHubCache(dir);
    const online = await listRepoFiles(REPO, { hubUrl: hub.url, cache });
    await hub.close();
    expect(await listRepoFiles(REPO, { hubUrl: hub.url, cache })).toEqual(online);
  });

  it('resumes with a Range request after the connection is cut mid-body', async () => {
    const expected = diskBytes(BIG);
    const cut = 1_000_003;
    hub.faults.cutAfterBytes = cut;
    const events: DownloadProgress[] = [];
    const blob = await downloadFile(REPO, BIG, {
      hubUrl: hub.url,
      cache: new FsHubCache(dir),
      retry: fast,
      onProgress: (p) => events.push(p),
    });
    expectSameBytes(await bytesOf(blob), expected);
    const bodies = hub.stats.requests.filter((r) => r.url.includes(`/resolve/`) && r.range !== 'bytes=0-0');
    expect(bodies.map((r) => [r.range, r.status, r.bytes])).toEqual([
      [undefined, 200, cut],
      [`bytes=${cut}-`, 206, expected.length - cut],
    ]);
    for (let i = 1; i < events.length; i++)
      expect(events[i]!.loaded).toBeGreaterThanOrEqual(events[i - 1]!.loaded);
    expect(events.at(-1)!.loaded).toBe(expected.length);
  });

  it('an abort mid-body rejects with cancelled and caches nothing', async () => {
    const cache = new FsHubCache(dir);
    const controller = new AbortController();
    const download = downloadFile(REPO, BIG, {
      hubUrl: hub.url,
      cache,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.loaded > 0) controller.abort();
      },
    });
    await expect(download).rejects.toMatchObject({ code: 'cancelled', details: { path: BIG } });
    expect(await cache.listCached()).toEqual([]);
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
  });

  it('retries 500s with backoff, and gives up after the bounded number of retries', async () => {
    const expected = diskBytes('unet/config.json');
    const sha = await resolveRevision(REPO, { hubUrl: hub.url });
    // The two requests of a download are the size probe (through the client) and the body (ours).
    hub.stats.reset();
    hub.faults.failNext = 0;
    const info = await downloadFile(REPO, 'unet/config.json', {
      hubUrl: hub.url,
      revision: sha,
      retry: fast,
    });
    expectSameBytes(await bytesOf(info), expected);
    expect(hub.stats.requests.length).toBe(2);

    hub.stats.reset();
    let bodyRequests = 0;
    const failingFetch: typeof fetch = async (input, init) => {
      const headers = new Headers(init?.headers);
      if (headers.get('Range') !== 'bytes=0-0') {
        bodyRequests += 1;
        if (bodyRequests <= 2) hub.faults.failNext = 1;
      }
      return fetch(input, init);
    };
    const ok = await downloadFile(REPO, 'unet/config.json', {
      hubUrl: hub.url,
      revision: sha,
      retry: fast,
      fetch: failingFetch,
    });
    expectSameBytes(await bytesOf(ok), expected);
    expect(hub.stats.requests.map((r) => r.status)).toEqual([206, 500, 500, 200]);

    const alwaysFailing: typeof fetch = async (input, init) => {
      if (new Headers(init?.headers).get('Range') !== 'bytes=0-0') hub.faults.failNext = 1;
      return fetch(input, init);
    };
    hub.stats.reset();
    await expect(
      downloadFile(REPO, 'unet/config.json', {
        hubUrl: hub.url,
        revision: sha,
        retry: fast,
        fetch: alwaysFailing,
      }),
    ).rejects.toMatchObject({ code: 'hub-network', details: { status: 500 } });
    expect(hub.stats.requests.length).toBe(1 + 1 + fast.retries);
  });

  it('fileUrl serves ranged reads: 206 with the right bytes and Content-Range', async () => {
    const expected = diskBytes(BIG);
    const url = fileUrl(REPO, BIG, { hubUrl: hub.url });
    const res = await fetch(url, { headers: { Range: 'bytes=100-1099' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('Content-Range')).toBe(`bytes 100-1099/${expected.length}`);
    expectSameBytes(new Uint8Array(await res.arrayBuffer()), expected.subarray(100, 1100));
    const tail = await fetch(url, { headers: { Range: 'bytes=-8' } });
    expectSameBytes(new Uint8Array(await tail.arrayBuffer()), expected.subarray(expected.length - 8));
    const head = await fetch(url, { method: 'HEAD' });
    expect(head.headers.get('Content-Length')).toBe(String(expected.length));
    expect(head.headers.get('Accept-Ranges')).toBe('bytes');
    expect(head.headers.get('X-Repo-Commit')).toBe(await resolveRevision(REPO, { hubUrl: hub.url }));
    const past = await fetch(url, { headers: { Range: `bytes=${expected.length}-` } });
    expect(past.status).toBe(416);
    expect(past.headers.get('Content-Range')).toBe(`bytes */${expected.length}`);
  });
});
