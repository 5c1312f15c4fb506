/**
 * The Hub cache on the file system (Node only: the CLI and tests). Layout under `dir`:
 *   files/<repo, URI-encoded>/<commit>/<path>    the bytes
 *   trees/<repo>/<commit>.json                    file listings
 *   refs/<repo>/<hub URL>/<revision>              the commit a branch or tag pointed to
 *   tmp/                                          writes in progress
 * Every write goes to tmp/ and is renamed into place, so an interrupted download never leaves a
 * corrupt entry and a reader never sees a partial file.
 */
import { randomBytes } from 'node:crypto';
import { openAsBlob } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { CachedFile, HubCache, HubFileKey, HubRefKey } from './cache.ts';
import { assertRepoPath } from './repo-ref.ts';
import type { RepoFileEntry } from './types.ts';

/** `LORAFUSE_CACHE_DIR`, else `$XDG_CACHE_HOME/lorafuse/hub`, else `~/.cache/lorafuse/hub`. */
export function defaultHubCacheDir(env: Record<string, string | undefined> = process.env): string {
  if (env.LORAFUSE_CACHE_DIR) return env.LORAFUSE_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'lorafuse', 'hub');
}

export class FsHubCache implements HubCache {
  constructor(readonly dir: string) {}

  private repoDir(kind: 'files' | 'trees' | 'refs', repo: string): string {
    return join(this.dir, kind, encodeURIComponent(repo));
  }

  private filePath(key: HubFileKey): string {
    assertRepoPath(key.repo, key.path);
    return join(this.repoDir('files', key.repo), safeSegment(key.commit), ...key.path.split('/'));
  }

  private refPath(key: HubRefKey): string {
    return join(
      this.repoDir('refs', key.repo),
      encodeURIComponent(key.hubUrl),
      encodeURIComponent(key.revision),
    );
  }

  private listingPath(repo: string, commit: string): string {
    return join(this.repoDir('trees', repo), `${safeSegment(commit)}.json`);
  }

  async getFile(key: HubFileKey): Promise<Blob | undefined> {
    const path = this.filePath(key);
    if (!(await isFile(path))) return undefined;
    return (await openAsBlob(path)) as unknown as Blob;
  }

  async putFile(key: HubFileKey, data: Blob | ReadableStream<Uint8Array>, size: number): Promise<void> {
    const stream = data instanceof Blob ? (data.stream() as ReadableStream<Uint8Array>) : data;
    await this.writeAtomically(this.filePath(key), stream, size);
  }

  async getRef(key: HubRefKey): Promise<string | undefined> {
    const text = await readText(this.refPath(key));
    return text?.trim() || undefined;
  }

  async putRef(key: HubRefKey, commit: string): Promise<void> {
    await this.writeText(this.refPath(key), commit);
  }

  async getListing(repo: string, commit: string): Promise<RepoFileEntry[] | undefined> {
    const text = await readText(this.listingPath(repo, commit));
    return text === undefined ? undefined : (JSON.parse(text) as RepoFileEntry[]);
  }

  async putListing(repo: string, commit: string, entries: RepoFileEntry[]): Promise<void> {
    await this.writeText(this.listingPath(repo, commit), JSON.stringify(entries));
  }

  async listCached(): Promise<CachedFile[]> {
    const out: CachedFile[] = [];
    for (const repoDir of await listDir(join(this.dir, 'files'))) {
      const repo = decodeURIComponent(repoDir);
      for (const commit of await listDir(join(this.dir, 'files', repoDir))) {
        const base = join(this.dir, 'files', repoDir, commit);
        for (const { path, size } of await walkFiles(base)) out.push({ repo, commit, path, size });
      }
    }
    return out.sort((a, b) => `${a.repo}\0${a.path}`.localeCompare(`${b.repo}\0${b.path}`));
  }

  async delete(repo: string): Promise<number> {
    let freed = 0;
    for (const { size } of await walkFiles(this.repoDir('files', repo))) freed += size;
    for (const kind of ['files', 'trees', 'refs'] as const) {
      await rm(this.repoDir(kind, repo), { recursive: true, force: true });
    }
    return freed;
  }

  async size(): Promise<number> {
    return (await this.listCached()).reduce((n, f) => n + f.size, 0);
  }

  private async writeText(path: string, text: string): Promise<void> {
    const bytes = new TextEncoder().encode(text);
    await this.writeAtomically(
      path,
      new Blob([bytes]).stream() as ReadableStream<Uint8Array>,
      bytes.byteLength,
    );
  }

  private async writeAtomically(
    path: string,
    stream: ReadableStream<Uint8Array>,
    size: number,
  ): Promise<void> {
    const tmpDir = join(this.dir, 'tmp');
    await mkdir(tmpDir, { recursive: true });
    const tmp = join(tmpDir, `${randomBytes(8).toString('hex')}.part`);
    const handle = await open(tmp, 'w');
    let written = 0;
    try {
      const reader = stream.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        await handle.write(value);
        written += value.byteLength;
      }
      await handle.close();
      if (written !== size) throw new Error(`expected ${size} bytes, got ${written}`);
      await mkdir(dirname(path), { recursive: true });
      await rename(tmp, path);
    } catch (e) {
      await handle.close().catch(() => undefined);
      await rm(tmp, { force: true });
      throw e;
    }
  }
}

/** A commit sha or similar token used as one path segment. */
function safeSegment(s: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(s) || s === '.' || s === '..') throw new Error(`not a commit id: '${s}'`);
  return s;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

async function listDir(path: string): Promise<string[]> {
  try {
    return (await readdir(path)).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

async function walkFiles(root: string): Promise<Array<{ path: string; size: number }>> {
  const out: Array<{ path: string; size: number }> = [];
  const stack: string[] = [''];
  while (stack.length > 0) {
    const rel = stack.pop()!;
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(join(root, rel), { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    for (const entry of entries) {
      const childRel = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) stack.push(childRel);
      else if (entry.isFile()) out.push({ path: childRel, size: (await stat(join(root, childRel))).size });
    }
  }
  return out;
}
