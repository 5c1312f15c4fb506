/**
 * The persistent Hub cache: files keyed by repo + commit + path (a commit never moves, so an entry
 * never goes stale), refs (`main` -> commit, per Hub URL) so that offline use can resolve a branch,
 * and file listings per commit. Two implementations: Cache Storage (browser, here) and the file
 * system (Node, `fs-cache.ts`, which only Node code imports).
 */
import { LorafuseError } from '../../../errors.ts';
import type { RepoFileEntry } from './types.ts';

export interface HubFileKey {
  repo: string;
  commit: string;
  path: string;
}

export interface HubRefKey {
  hubUrl: string;
  repo: string;
  revision: string;
}

export interface CachedFile extends HubFileKey {
  size: number;
}

export interface HubCache {
  /** The cached bytes, or undefined. */
  getFile(key: HubFileKey): Promise<Blob | undefined>;
  /**
   * Stores a file. A stream that errors (an interrupted download) must leave no entry behind, and a
   * reader never sees a half-written one. Resolves once the entry is complete.
   */
  putFile(key: HubFileKey, data: Blob | ReadableStream<Uint8Array>, size: number): Promise<void>;
  getRef(key: HubRefKey): Promise<string | undefined>;
  putRef(key: HubRefKey, commit: string): Promise<void>;
  getListing(repo: string, commit: string): Promise<RepoFileEntry[] | undefined>;
  putListing(repo: string, commit: string, entries: RepoFileEntry[]): Promise<void>;
  /** Every cached file (listings and refs are bookkeeping, not listed). */
  listCached(): Promise<CachedFile[]>;
  /** Removes every file, listing and ref of `repo`; resolves to the bytes freed. */
  delete(repo: string): Promise<number>;
  /** Total bytes of cached files. */
  size(): Promise<number>;
}

export const CACHE_STORAGE_NAME = 'lorafuse-hub-v1';
/** Cache Storage needs URLs as keys; this origin is never fetched. */
const KEY_ORIGIN = 'https://lorafuse-cache.invalid';
const SIZE_HEADER = 'x-lorafuse-size';

// Keys put the repo id in one encoded segment, so a key splits back without ambiguity.
function fileUrl(key: HubFileKey): string {
  const path = key.path.split('/').map(encodeURIComponent).join('/');
  return `${KEY_ORIGIN}/files/${encodeURIComponent(key.repo)}/${key.commit}/${path}`;
}

function refUrl(key: HubRefKey): string {
  return `${KEY_ORIGIN}/refs/${encodeURIComponent(key.repo)}/${encodeURIComponent(key.hubUrl)}/${encodeURIComponent(key.revision)}`;
}

function listingUrl(repo: string, commit: string): string {
  return `${KEY_ORIGIN}/trees/${encodeURIComponent(repo)}/${commit}`;
}

/** Parses a files/ key back into its parts: files/<repo>/<commit>/<path>. */
function parseFileUrl(url: string): HubFileKey | undefined {
  const prefix = `${KEY_ORIGIN}/files/`;
  if (!url.startsWith(prefix)) return undefined;
  const [repo, commit, ...path] = url.slice(prefix.length).split('/');
  if (!repo || !commit || path.length === 0) return undefined;
  return { repo: decodeURIComponent(repo), commit, path: path.map(decodeURIComponent).join('/') };
}

/** The repo a key belongs to (the segment after the kind). */
function repoOfUrl(url: string): string | undefined {
  if (!url.startsWith(`${KEY_ORIGIN}/`)) return undefined;
  const segment = url.slice(KEY_ORIGIN.length + 1).split('/')[1];
  return segment === undefined ? undefined : decodeURIComponent(segment);
}

/** Browser cache in Cache Storage (`caches.open('lorafuse-hub-v1')`); also works in workers. */
export class CacheStorageHubCache implements HubCache {
  private readonly opened: Promise<Cache>;

  constructor(storage: CacheStorage | undefined = globalThis.caches, name = CACHE_STORAGE_NAME) {
    if (!storage) {
      throw new LorafuseError(
        'invalid-argument',
        'Cache Storage is unavailable here (browsers offer it only on https:// or localhost pages): open the app over https or from localhost to keep downloads for offline use',
        { name },
      );
    }
    this.opened = storage.open(name);
  }

  async getFile(key: HubFileKey): Promise<Blob | undefined> {
    const res = await (await this.opened).match(fileUrl(key));
    if (!res) return undefined;
    const blob = await res.blob();
    // An entry whose size disagrees with what was stored is treated as absent (fetched again).
    return blob.size === Number(res.headers.get(SIZE_HEADER)) ? blob : undefined;
  }

  async putFile(key: HubFileKey, data: Blob | ReadableStream<Uint8Array>, size: number): Promise<void> {
    // Cache.put stores nothing when the body errors, so an interrupted download leaves no entry.
    const headers = { 'content-type': 'application/octet-stream', [SIZE_HEADER]: String(size) };
    await (await this.opened).put(fileUrl(key), new Response(data, { headers }));
  }

  async getRef(key: HubRefKey): Promise<string | undefined> {
    const res = await (await this.opened).match(refUrl(key));
    return res ? (await res.text()).trim() : undefined;
  }

  async putRef(key: HubRefKey, commit: string): Promise<void> {
    await (await this.opened).put(refUrl(key), new Response(commit));
  }

  async getListing(repo: string, commit: string): Promise<RepoFileEntry[] | undefined> {
    const res = await (await this.opened).match(listingUrl(repo, commit));
    return res ? ((await res.json()) as RepoFileEntry[]) : undefined;
  }

  async putListing(repo: string, commit: string, entries: RepoFileEntry[]): Promise<void> {
    const body = JSON.stringify(entries);
    await (await this.opened).put(
      listingUrl(repo, commit),
      new Response(body, { headers: { 'content-type': 'application/json' } }),
    );
  }

  async listCached(): Promise<CachedFile[]> {
    const cache = await this.opened;
    const out: CachedFile[] = [];
    for (const req of await cache.keys()) {
      const key = parseFileUrl(req.url);
      if (!key) continue;
      const res = await cache.match(req);
      out.push({ ...key, size: Number(res?.headers.get(SIZE_HEADER) ?? 0) });
    }
    return out;
  }

  async delete(repo: string): Promise<number> {
    const cache = await this.opened;
    let freed = 0;
    for (const req of await cache.keys()) {
      if (repoOfUrl(req.url) !== repo) continue;
      if (parseFileUrl(req.url)) {
        const res = await cache.match(req);
        freed += Number(res?.headers.get(SIZE_HEADER) ?? 0);
      }
      await cache.delete(req);
    }
    return freed;
  }

  async size(): Promise<number> {
    return (await this.listCached()).reduce((n, f) => n + f.size, 0);
  }
}
