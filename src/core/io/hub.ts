/**
 * Hub access for the worker and Node, through `@huggingface/hub`: list a repo, resolve a revision
 * to its commit, download a file with byte progress, resume and a persistent cache (so a second
 * load works offline), URLs for ranged reads, and model search (LoRAs for a base model).
 * Every failure is a LorafuseError: hub-not-found, hub-unauthorized, hub-network, hub-invalid-repo.
 */
import { fileDownloadInfo, listFiles, listModels, modelInfo } from '@huggingface/hub';
import { LorafuseError } from '../../errors.ts';
import type { HubCache, HubFileKey } from './hub/cache.ts';
import { fileNotFound, type HubErrorContext, toHubError } from './hub/hub-error.ts';
import { assertRepoId, assertRepoPath, assertRevision, isCommitSha } from './hub/repo-ref.ts';
import { type ByteSink, downloadWithResume, type RetryOptions } from './hub/resumable-download.ts';
import type { DownloadProgress, RepoFileEntry } from './hub/types.ts';

export type { CachedFile, HubCache, HubFileKey, HubRefKey } from './hub/cache.ts';
export { CACHE_STORAGE_NAME, CacheStorageHubCache } from './hub/cache.ts';
export { isValidRepoId } from './hub/repo-ref.ts';
export type { RetryOptions } from './hub/resumable-download.ts';
export type { DownloadProgress, RepoFileEntry } from './hub/types.ts';

export const DEFAULT_HUB_URL = 'https://huggingface.co';

export interface HubOptions {
  /** Default 'https://huggingface.co'. */
  hubUrl?: string;
  /** A Hugging Face access token (`hf_...`), for private and gated repos. */
  token?: string;
  /** Branch, tag or commit sha. Default 'main'. A full commit sha needs no request to resolve. */
  revision?: string;
  fetch?: typeof fetch;
  /** Persistent cache; without one nothing is stored and nothing works offline. */
  cache?: HubCache;
}

export interface DownloadOptions extends HubOptions {
  onProgress?: (p: DownloadProgress) => void;
  signal?: AbortSignal;
  retry?: RetryOptions;
}

export interface ModelSearchQuery {
  /** Substring of the repo id. */
  search?: string;
  /** Tags that must all be present, e.g. ['lora', 'base_model:stabilityai/stable-diffusion-xl-base-1.0']. */
  filter?: string[];
  author?: string;
  /** Default 50, at most 1000. */
  limit?: number;
}

export interface ModelSearchHit {
  repo: string;
  tags: string[];
  /** From the `base_model:` / `base_model:adapter:` tags. */
  baseModels: string[];
  private: boolean;
  gated: false | 'auto' | 'manual';
  downloads: number;
  likes: number;
  updatedAt: Date;
}

interface Resolved {
  hubUrl: string;
  revision: string;
  token: string | undefined;
  fetch: typeof fetch | undefined;
  cache: HubCache | undefined;
}

const MAX_SEARCH_LIMIT = 1000;

function resolveOptions(repo: string, opts: HubOptions): Resolved {
  assertRepoId(repo);
  const revision = opts.revision ?? 'main';
  assertRevision(repo, revision);
  const hubUrl = (opts.hubUrl ?? DEFAULT_HUB_URL).replace(/\/+$/, '');
  checkToken(repo, hubUrl, opts.token);
  return { hubUrl, revision, token: opts.token || undefined, fetch: opts.fetch, cache: opts.cache };
}

function checkToken(repo: string, hubUrl: string, token: string | undefined): void {
  if (token && !token.startsWith('hf_')) {
    throw new LorafuseError(
      'hub-unauthorized',
      `The access token for ${hubUrl} must start with 'hf_': paste a token from huggingface.co/settings/tokens in Settings`,
      { repo, hubUrl },
    );
  }
}

function contextOf(repo: string, o: Resolved, path?: string): HubErrorContext {
  const ctx: HubErrorContext = {
    repo,
    hubUrl: o.hubUrl,
    revision: o.revision,
    withToken: o.token !== undefined,
  };
  if (path !== undefined) ctx.path = path;
  return ctx;
}

function clientParams(o: Resolved) {
  return {
    hubUrl: o.hubUrl,
    ...(o.token ? { accessToken: o.token as `hf_${string}` } : {}),
    ...(o.fetch ? { fetch: o.fetch } : {}),
  };
}

/** `Authorization` header for requests made outside the client (ranged reads through `fileUrl`). */
export function hubAuthHeaders(opts: Pick<HubOptions, 'token'>): Record<string, string> {
  return opts.token ? { Authorization: `Bearer ${opts.token}` } : {};
}

/** The resolve URL of a file, for ranged reads (send `hubAuthHeaders(opts)` with it). */
export function fileUrl(repo: string, path: string, opts: HubOptions = {}): string {
  const o = resolveOptions(repo, opts);
  assertRepoPath(repo, path);
  const encodedPath = path.split('/').map(encodeURIComponent).join('/');
  return `${o.hubUrl}/${repo}/resolve/${encodeURIComponent(o.revision)}/${encodedPath}`;
}

/**
 * The commit a revision points to. A full sha is returned as is. The answer is remembered in the
 * cache, and when the Hub is unreachable the cached answer is used (offline mode).
 */
export async function resolveRevision(repo: string, opts: HubOptions = {}): Promise<string> {
  const o = resolveOptions(repo, opts);
  if (isCommitSha(o.revision)) return o.revision;
  const refKey = { hubUrl: o.hubUrl, repo, revision: o.revision };
  try {
    const info = await modelInfo({
      name: repo,
      revision: o.revision,
      additionalFields: ['sha'],
      ...clientParams(o),
    });
    if (!isCommitSha(info.sha)) {
      throw new LorafuseError(
        'internal',
        `The Hub at ${o.hubUrl} returned no commit sha for '${repo}'`,
        refKey,
      );
    }
    await o.cache?.putRef(refKey, info.sha);
    return info.sha;
  } catch (e) {
    const err = toHubError(e, contextOf(repo, o));
    if (err.code === 'hub-network' && o.cache) {
      const cached = await o.cache.getRef(refKey);
      if (cached) return cached;
    }
    throw err;
  }
}

/**
 * Every file and folder of the repo (recursive). With a cache the listing is pinned to the resolved
 * commit, stored, and served from the cache when offline.
 */
export async function listRepoFiles(repo: string, opts: HubOptions = {}): Promise<RepoFileEntry[]> {
  const o = resolveOptions(repo, opts);
  const commit = o.cache ? await resolveRevision(repo, opts) : o.revision;
  if (o.cache) {
    const cached = await o.cache.getListing(repo, commit);
    if (cached) return cached;
  }
  const entries: RepoFileEntry[] = [];
  try {
    for await (const item of listFiles({ repo, recursive: true, revision: commit, ...clientParams(o) })) {
      const entry: RepoFileEntry = {
        path: item.path,
        size: item.size,
        type: item.type === 'directory' ? 'directory' : 'file',
      };
      if (item.oid) entry.oid = item.oid;
      entries.push(entry);
    }
  } catch (e) {
    throw toHubError(e, contextOf(repo, o));
  }
  await o.cache?.putListing(repo, commit, entries);
  return entries;
}

/**
 * Downloads one file with byte progress and resume, through the cache when one is given: a cached
 * file is returned without any download, and offline (`main` resolved from the cached ref).
 */
export async function downloadFile(repo: string, path: string, opts: DownloadOptions = {}): Promise<Blob> {
  const o = resolveOptions(repo, opts);
  assertRepoPath(repo, path);
  const ctx = contextOf(repo, o, path);
  const report = (loaded: number, total: number) => opts.onProgress?.({ loaded, total, path });
  const commit = await resolveRevision(repo, opts);
  const key: HubFileKey = { repo, commit, path };
  if (o.cache) {
    const hit = await o.cache.getFile(key);
    if (hit) {
      report(hit.size, hit.size);
      return hit;
    }
  }
  let info: Awaited<ReturnType<typeof fileDownloadInfo>>;
  try {
    info = await fileDownloadInfo({ repo, path, revision: commit, ...clientParams(o) });
  } catch (e) {
    throw toHubError(e, ctx);
  }
  if (!info) throw fileNotFound({ ...ctx, path });
  const total = info.size;
  const sink = o.cache ? new CacheSink(o.cache, key, total) : new MemorySink();
  try {
    await downloadWithResume({
      url: info.url,
      size: total,
      headers: hubAuthHeaders(o),
      // Bound: a browser's fetch called as a method of another object throws "Illegal invocation".
      fetch: o.fetch ?? ((input, init) => globalThis.fetch(input, init)),
      sink,
      ctx,
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.retry ? { retry: opts.retry } : {}),
      onProgress: (loaded) => report(loaded, total),
    });
  } catch (e) {
    await sink.abort(e);
    throw toHubError(e, ctx);
  }
  return sink.finish();
}

/** Model search (e.g. LoRAs for a base model: filter ['base_model:<repo>']), through the client's listModels. */
export async function searchModels(
  query: ModelSearchQuery,
  opts: HubOptions = {},
): Promise<ModelSearchHit[]> {
  const hubUrl = (opts.hubUrl ?? DEFAULT_HUB_URL).replace(/\/+$/, '');
  checkToken('(search)', hubUrl, opts.token);
  const o: Resolved = {
    hubUrl,
    revision: 'main',
    token: opts.token || undefined,
    fetch: opts.fetch,
    cache: undefined,
  };
  const limit = Math.max(1, Math.min(MAX_SEARCH_LIMIT, query.limit ?? 50));
  const hits: ModelSearchHit[] = [];
  try {
    const search = {
      ...(query.search ? { query: query.search } : {}),
      ...(query.filter?.length ? { tags: query.filter } : {}),
      ...(query.author ? { owner: query.author } : {}),
    };
    for await (const m of listModels({ search, limit, additionalFields: ['tags'], ...clientParams(o) })) {
      const tags = m.tags ?? [];
      hits.push({
        repo: m.name,
        tags,
        baseModels: baseModelsOf(tags),
        private: m.private,
        gated: m.gated,
        downloads: m.downloads,
        likes: m.likes,
        updatedAt: m.updatedAt,
      });
    }
  } catch (e) {
    throw toHubError(e, { repo: '(model search)', hubUrl });
  }
  return hits;
}

function baseModelsOf(tags: string[]): string[] {
  const out = new Set<string>();
  for (const t of tags) {
    const m = /^base_model:(?:adapter:)?([^:]+\/[^:]+|[^:/]+)$/.exec(t);
    if (m?.[1]) out.add(m[1]);
  }
  return [...out];
}

/** Collects the bytes in memory (no cache). */
class MemorySink implements ByteSink {
  private chunks: Uint8Array[] = [];

  async write(chunk: Uint8Array): Promise<void> {
    this.chunks.push(chunk);
  }

  async restart(): Promise<void> {
    this.chunks = [];
  }

  async abort(_reason: unknown): Promise<void> {
    this.chunks = [];
  }

  async finish(): Promise<Blob> {
    return new Blob(this.chunks as BlobPart[]);
  }
}

/**
 * Streams the bytes straight into the cache (no full copy in memory); the entry appears only once
 * complete, and an aborted stream leaves nothing behind. The result is read back from the cache.
 */
class CacheSink implements ByteSink {
  private channel: ByteChannel;
  private stored: Promise<void>;

  constructor(
    private readonly cache: HubCache,
    private readonly key: HubFileKey,
    private readonly size: number,
  ) {
    this.channel = new ByteChannel();
    this.stored = this.store();
  }

  private store(): Promise<void> {
    const p = this.cache.putFile(this.key, this.channel.stream, this.size);
    p.catch((e) => this.channel.fail(e));
    return p;
  }

  write(chunk: Uint8Array): Promise<void> {
    return this.channel.write(chunk);
  }

  async restart(): Promise<void> {
    await this.abort(new Error('restarting the download from byte 0'));
    this.channel = new ByteChannel();
    this.stored = this.store();
  }

  async abort(reason: unknown): Promise<void> {
    this.channel.error(reason);
    await this.stored.catch(() => undefined);
  }

  async finish(): Promise<Blob> {
    this.channel.close();
    try {
      await this.stored;
    } catch (e) {
      throw new LorafuseError(
        'internal',
        `Could not store '${this.key.path}' of '${this.key.repo}' in the cache (${e instanceof Error ? e.message : String(e)}): free some disk space or clear the cache in Settings`,
        { ...this.key },
        { cause: e },
      );
    }
    const blob = await this.cache.getFile(this.key);
    if (!blob || blob.size !== this.size) {
      throw new LorafuseError(
        'internal',
        `The cache lost '${this.key.path}' of '${this.key.repo}' right after storing it (expected ${this.size} bytes); clear the cache in Settings and retry`,
        { ...this.key, size: blob?.size },
      );
    }
    return blob;
  }
}

/** A ReadableStream fed by `write`, with backpressure (8 MiB buffered at most). */
class ByteChannel {
  readonly stream: ReadableStream<Uint8Array>;
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private wake: (() => void) | undefined;
  private failure: unknown;
  private ended = false;

  constructor() {
    this.stream = new ReadableStream<Uint8Array>(
      {
        start: (c) => {
          this.controller = c;
        },
        pull: () => this.release(),
        cancel: (reason) => this.fail(reason ?? new Error('cache writer cancelled')),
      },
      { highWaterMark: 8 << 20, size: (chunk) => chunk.byteLength },
    );
  }

  private release(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  fail(e: unknown): void {
    this.failure ??= e;
    this.release();
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    this.controller.enqueue(chunk);
    if ((this.controller.desiredSize ?? 1) <= 0) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      if (this.failure !== undefined) throw this.failure;
    }
  }

  close(): void {
    if (this.ended || this.failure !== undefined) return;
    this.ended = true;
    this.controller.close();
  }

  error(reason: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.controller.error(reason);
    this.fail(reason);
  }
}
