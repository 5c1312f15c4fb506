/**
 * A local server shaped like huggingface.co, serving the fixtures as model repos, so that the Hub
 * code (and the app in e2e tests) runs against the real `@huggingface/hub` client with no network.
 *
 * Endpoints answered the way the Hub answers them (the ones `@huggingface/hub` 2.17 calls):
 *   GET  /api/models/{repo}/tree/{rev}[/{path}]?recursive=&expand=&cursor=   (Link: rel="next" pages)
 *   GET  /api/models/{repo}[/revision/{rev}]?expand=...                         (model info)
 *   GET  /api/models?search=&author=&filter=&limit=&expand=...                  (model search)
 *   GET|HEAD /{repo}/resolve/{rev}/{path}, /{repo}/raw/{rev}/{path}           (files, Range -> 206)
 * Errors carry the Hub's JSON shape (`{"error": ...}`) and `X-Error-Code`. Private repos answer 401
 * without `Authorization: Bearer <token>`, as the Hub does. Binds 127.0.0.1 only.
 *
 * Standalone: `npx tsx tests/hub-server.ts [--port N]` prints the URL.
 */
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface HubRequestRecord {
  method: string;
  url: string;
  range?: string;
  authorization?: string;
  status: number;
  /** Body bytes actually written (a cut connection counts what went out). */
  bytes: number;
}

export interface HubServerStats {
  requests: HubRequestRecord[];
  bytesServed(): number;
  reset(): void;
}

export interface HubServerFaults {
  /** The next file download whose body is longer than N bytes: send N body bytes, then destroy the socket. */
  cutAfterBytes?: number;
  /** The next N requests answer 500. */
  failNext?: number;
}

export interface HubServer {
  url: string;
  port: number;
  close(): Promise<void>;
  stats: HubServerStats;
  faults: HubServerFaults;
  /** The repos served, by id. */
  repos: ReadonlyMap<string, RepoSpec>;
}

export interface RepoSpec {
  /** Folder on disk backing the repo. */
  dir: string;
  /** Files of `dir` to serve (relative paths); all files when absent. */
  include?: (relPath: string) => boolean;
  private?: boolean;
  tags?: string[];
  baseModel?: string;
  pipelineTag?: string;
  libraryName?: string;
}

export interface HubServerOptions {
  /** Fixtures root; default `tests/fixtures` next to this file. */
  root?: string;
  /** Default 0 (an ephemeral port). */
  port?: number;
  /** Token that opens private repos. Default `hf_test_token`. */
  token?: string;
  /** Extra repos (or overrides), by id. */
  repos?: Record<string, RepoSpec>;
  /** Tree listing page size (the Hub uses 1000; 50 with `expand`). */
  treePageSize?: number;
}

export const TEST_TOKEN = 'hf_test_token';
export const PRIVATE_LORA_REPO = 'fixtures/private-lora';

const here = dirname(fileURLToPath(import.meta.url));
const LFS_SUFFIXES = ['.safetensors', '.bin', '.onnx', '.ckpt', '.pt', '.msgpack', '.h5'];
const DEFAULT_TREE_PAGE = 1000;
const MAX_SEARCH_LIMIT = 1000;
const EXPOSED_HEADERS = [
  'Content-Length',
  'Content-Range',
  'Accept-Ranges',
  'ETag',
  'Link',
  'X-Repo-Commit',
  'X-Linked-Size',
  'X-Linked-Etag',
  'X-Error-Code',
  'X-Error-Message',
  'X-Request-Id',
].join(', ');

interface RepoFile {
  path: string;
  abs: string;
  size: number;
  lfs: boolean;
  /** Git blob sha1 of what git stores (the LFS pointer for LFS files). */
  oid: string;
  /** sha256 of the content (LFS files only). */
  sha256?: string;
  pointerSize?: number;
}

interface LoadedRepo {
  id: string;
  spec: RepoSpec;
  files: RepoFile[];
  dirs: string[];
  sha: string;
  lastModified: string;
}

/** Default repos: the fixture pipelines, one repo per LoRA folder, the LyCORIS set and one private LoRA. */
export function defaultRepos(root: string): Record<string, RepoSpec> {
  const repos: Record<string, RepoSpec> = {};
  for (const name of ['tiny-sd15', 'tiny-sdxl']) {
    repos[`fixtures/${name}`] = {
      dir: join(root, 'models', name),
      tags: ['diffusers', 'safetensors', 'text-to-image', 'stable-diffusion'],
      pipelineTag: 'text-to-image',
      libraryName: 'diffusers',
    };
  }
  const loraIndex = JSON.parse(readFileSync(join(root, 'loras', 'index.json'), 'utf8')) as Record<
    string,
    { file: string; model: string }
  >;
  const loraFolders = new Map<string, string>();
  for (const entry of Object.values(loraIndex)) {
    const folder = entry.file.split('/')[1];
    const base = entry.model.split('/')[1];
    if (folder && base) loraFolders.set(folder, `fixtures/${base}`);
  }
  for (const [folder, base] of loraFolders) {
    repos[`fixtures/${folder}`] = loraSpec(join(root, 'loras', folder), base);
  }
  const lycoris = JSON.parse(readFileSync(join(root, 'lycoris', 'index.json'), 'utf8')) as Record<
    string,
    { model: string }
  >;
  const lycorisBase = Object.values(lycoris)[0]?.model.split('/')[1] ?? 'tiny-sd15';
  const lycorisSpec = loraSpec(join(root, 'lycoris'), `fixtures/${lycorisBase}`);
  repos['fixtures/lycoris'] = { ...lycorisSpec, tags: ['lycoris', ...(lycorisSpec.tags ?? [])] };
  repos[PRIVATE_LORA_REPO] = {
    ...loraSpec(join(root, 'loras', 'sd15-kohya'), 'fixtures/tiny-sd15'),
    private: true,
  };
  return repos;
}

function loraSpec(dir: string, base: string): RepoSpec {
  return {
    dir,
    baseModel: base,
    tags: [
      'lora',
      'safetensors',
      'text-to-image',
      'diffusers',
      `base_model:${base}`,
      `base_model:adapter:${base}`,
    ],
    pipelineTag: 'text-to-image',
    libraryName: 'diffusers',
  };
}

async function walk(dir: string, include: ((p: string) => boolean) | undefined): Promise<string[]> {
  const out: string[] = [];
  const stack = [dir];
  while (stack.length > 0) {
    const current = stack.pop()!;
    for (const entry of await readdir(current, { withFileTypes: true })) {
      const abs = join(current, entry.name);
      if (entry.isDirectory()) stack.push(abs);
      else if (entry.isFile()) {
        const rel = relative(dir, abs).split(sep).join('/');
        if (!include || include(rel)) out.push(rel);
      }
    }
  }
  return out.sort();
}

function gitBlobSha1(content: Buffer | string): string {
  const buf = typeof content === 'string' ? Buffer.from(content) : content;
  return createHash('sha1').update(`blob ${buf.length}\0`).update(buf).digest('hex');
}

async function loadRepo(id: string, spec: RepoSpec): Promise<LoadedRepo> {
  const paths = await walk(spec.dir, spec.include);
  const files: RepoFile[] = [];
  const dirs = new Set<string>();
  let newest = 0;
  for (const path of paths) {
    const abs = join(spec.dir, ...path.split('/'));
    const content = await readFile(abs);
    const st = await stat(abs);
    newest = Math.max(newest, st.mtimeMs);
    const lfs = LFS_SUFFIXES.some((s) => path.endsWith(s));
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
    if (lfs) {
      const sha256 = createHash('sha256').update(content).digest('hex');
      const pointer = `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256}\nsize ${content.length}\n`;
      files.push({
        path,
        abs,
        size: content.length,
        lfs,
        oid: gitBlobSha1(pointer),
        sha256,
        pointerSize: pointer.length,
      });
    } else {
      files.push({ path, abs, size: content.length, lfs, oid: gitBlobSha1(content) });
    }
  }
  // The "commit": a content hash of the repo id and its (path, blob oid) list. Deterministic.
  const commit = createHash('sha1').update(`repo ${id}\n`);
  for (const f of files) commit.update(`${f.path}\0${f.oid}\n`);
  return {
    id,
    spec,
    files,
    dirs: [...dirs].sort(),
    sha: commit.digest('hex'),
    lastModified: new Date(newest || 0).toISOString(),
  };
}

function treeOid(repo: LoadedRepo, dir: string): string {
  return createHash('sha1').update(`tree ${repo.sha} ${dir}`).digest('hex');
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly code?: string,
  ) {
    super(error);
  }
}

/** Starts the server; `close()` stops it and ends open connections. */
export async function startHubServer(opts: HubServerOptions = {}): Promise<HubServer> {
  const root = resolve(opts.root ?? join(here, 'fixtures'));
  const token = opts.token ?? TEST_TOKEN;
  const specs = { ...defaultRepos(root), ...opts.repos };
  const treePageSize = Math.max(1, opts.treePageSize ?? DEFAULT_TREE_PAGE);
  const loaded = new Map<string, Promise<LoadedRepo>>();
  const getRepo = (id: string): Promise<LoadedRepo> | undefined => {
    const spec = specs[id];
    if (!spec) return undefined;
    let p = loaded.get(id);
    if (!p) {
      p = loadRepo(id, spec);
      loaded.set(id, p);
    }
    return p;
  };

  const requests: HubRequestRecord[] = [];
  const stats: HubServerStats = {
    requests,
    bytesServed: () => requests.reduce((n, r) => n + r.bytes, 0),
    reset: () => {
      requests.length = 0;
    },
  };
  const faults: HubServerFaults = {};
  let requestCounter = 0;
  let baseUrl = '';

  async function authorize(repo: LoadedRepo, req: IncomingMessage): Promise<void> {
    if (!repo.spec.private) return;
    const auth = req.headers.authorization;
    if (!auth) throw new HttpError(401, 'Invalid username or password.', 'RepoNotFound');
    if (auth !== `Bearer ${token}`) throw new HttpError(401, 'Invalid credentials in Authorization header');
  }

  async function findRepo(id: string, req: IncomingMessage): Promise<LoadedRepo> {
    const p = getRepo(id);
    if (!p) throw new HttpError(404, 'Repository not found', 'RepoNotFound');
    const repo = await p;
    await authorize(repo, req);
    return repo;
  }

  function checkRevision(repo: LoadedRepo, revision: string): void {
    if (revision !== 'main' && revision !== 'HEAD' && revision !== repo.sha) {
      throw new HttpError(404, `Invalid rev id: ${revision}`, 'RevisionNotFound');
    }
  }

  function modelJson(repo: LoadedRepo, expand: string[]): Record<string, unknown> {
    const spec = repo.spec;
    const full: Record<string, unknown> = {
      _id: repo.sha.slice(0, 24),
      id: repo.id,
      modelId: repo.id,
      author: repo.id.split('/')[0],
      sha: repo.sha,
      lastModified: repo.lastModified,
      createdAt: repo.lastModified,
      private: !!spec.private,
      gated: false,
      disabled: false,
      downloads: 0,
      likes: 0,
      library_name: spec.libraryName,
      pipeline_tag: spec.pipelineTag,
      tags: spec.tags ?? [],
      cardData: spec.baseModel
        ? { base_model: spec.baseModel, tags: spec.tags ?? [] }
        : { tags: spec.tags ?? [] },
      siblings: repo.files.map((f) => ({ rfilename: f.path })),
      spaces: [],
      usedStorage: repo.files.reduce((n, f) => n + f.size, 0),
    };
    if (expand.length === 0) return full;
    // With `expand`, the Hub answers the requested fields plus `_id` and `id`.
    const out: Record<string, unknown> = { _id: full._id, id: full.id };
    for (const key of expand) if (key in full) out[key] = full[key];
    return out;
  }

  function sendJson(
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  }

  async function handleTree(
    res: ServerResponse,
    repo: LoadedRepo,
    rest: string[],
    query: URLSearchParams,
  ): Promise<void> {
    const revision = rest[0] ?? 'main';
    checkRevision(repo, decodeURIComponent(revision));
    const dir = rest
      .slice(1)
      .map((s) => decodeURIComponent(s))
      .join('/');
    if (dir && !repo.dirs.includes(dir)) {
      if (repo.files.some((f) => f.path === dir))
        throw new HttpError(404, `Entry not found: ${dir} is a file`, 'EntryNotFound');
      throw new HttpError(404, 'Entry not found', 'EntryNotFound');
    }
    const recursive = query.get('recursive') === 'true' || query.get('recursive') === '1';
    const expand = query.get('expand') === 'true' || query.get('expand') === '1';
    const prefix = dir ? `${dir}/` : '';
    const inScope = (p: string) =>
      p.startsWith(prefix) && (recursive || !p.slice(prefix.length).includes('/'));
    const entries: Array<Record<string, unknown>> = [];
    for (const d of repo.dirs) {
      if (inScope(d)) entries.push({ type: 'directory', oid: treeOid(repo, d), size: 0, path: d });
    }
    for (const f of repo.files) {
      if (!inScope(f.path)) continue;
      const entry: Record<string, unknown> = { type: 'file', oid: f.oid, size: f.size, path: f.path };
      if (f.lfs) entry.lfs = { oid: f.sha256, size: f.size, pointerSize: f.pointerSize };
      if (expand) {
        entry.lastCommit = { id: repo.sha, title: 'Add fixtures', date: repo.lastModified };
        entry.securityFileStatus = { status: 'safe' };
      }
      entries.push(entry);
    }
    entries.sort((a, b) => String(a.path).localeCompare(String(b.path)));
    const pageSize = expand ? Math.min(treePageSize, 50) : treePageSize;
    const cursor = Math.max(0, Number.parseInt(query.get('cursor') ?? '0', 10) || 0);
    const page = entries.slice(cursor, cursor + pageSize);
    const headers: Record<string, string> = {};
    if (cursor + pageSize < entries.length) {
      const next = new URL(`${baseUrl}/api/models/${repo.id}/tree/${rest.join('/')}`);
      for (const [k, v] of query) if (k !== 'cursor') next.searchParams.append(k, v);
      next.searchParams.set('cursor', String(cursor + pageSize));
      headers.Link = `<${next.href}>; rel="next"`;
    }
    return sendJson(res, 200, page, headers);
  }

  async function handleSearch(res: ServerResponse, query: URLSearchParams): Promise<void> {
    const search = (query.get('search') ?? '').toLowerCase();
    const author = query.get('author');
    const filters = query.getAll('filter').flatMap((f) => f.split(','));
    const pipelineTag = query.get('pipeline_tag');
    const limit = Math.min(
      MAX_SEARCH_LIMIT,
      Math.max(1, Number.parseInt(query.get('limit') ?? '100', 10) || 100),
    );
    const offset = Math.max(0, Number.parseInt(query.get('cursor') ?? '0', 10) || 0);
    const expand = query.getAll('expand');
    const hits: Array<Record<string, unknown>> = [];
    for (const id of Object.keys(specs).sort()) {
      const spec = specs[id]!;
      if (spec.private) continue; // anonymous search never lists private repos
      if (search && !id.toLowerCase().includes(search)) continue;
      if (author && id.split('/')[0] !== author) continue;
      if (pipelineTag && spec.pipelineTag !== pipelineTag) continue;
      const tags = spec.tags ?? [];
      if (!filters.every((f) => tags.includes(f) || spec.libraryName === f)) continue;
      hits.push(modelJson(await getRepo(id)!, expand));
    }
    const page = hits.slice(offset, offset + limit);
    const headers: Record<string, string> = {};
    if (offset + limit < hits.length) {
      const next = new URL(`${baseUrl}/api/models`);
      for (const [k, v] of query) if (k !== 'cursor') next.searchParams.append(k, v);
      next.searchParams.set('cursor', String(offset + limit));
      headers.Link = `<${next.href}>; rel="next"`;
    }
    return sendJson(res, 200, page, headers);
  }

  /** Serves a file (or a range of it). */
  async function handleFile(
    req: IncomingMessage,
    res: ServerResponse,
    repo: LoadedRepo,
    revision: string,
    path: string,
    raw: boolean,
  ): Promise<void> {
    checkRevision(repo, revision);
    const file = repo.files.find((f) => f.path === path);
    if (!file) throw new HttpError(404, 'Entry not found', 'EntryNotFound');
    const pointer =
      raw && file.lfs
        ? `version https://git-lfs.github.com/spec/v1\noid sha256:${file.sha256}\nsize ${file.size}\n`
        : undefined;
    const size = pointer !== undefined ? pointer.length : file.size;
    const etag = `"${file.lfs && pointer === undefined ? file.sha256 : file.oid}"`;
    const headers: Record<string, string | number> = {
      'Content-Type': path.endsWith('.json') ? 'text/plain; charset=utf-8' : 'application/octet-stream',
      'Accept-Ranges': 'bytes',
      ETag: etag,
      'X-Repo-Commit': repo.sha,
      'Content-Disposition': `inline; filename="${path.split('/').pop()}"`,
    };
    if (file.lfs && pointer === undefined) {
      headers['X-Linked-Size'] = file.size;
      headers['X-Linked-Etag'] = etag;
    }
    let start = 0;
    let end = size - 1;
    let status = 200;
    const range = req.headers.range;
    if (range) {
      const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
      let ok = false;
      if (m && (m[1] || m[2])) {
        if (m[1]) {
          start = Number(m[1]);
          end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
        } else {
          const suffix = Number(m[2]);
          start = Math.max(0, size - suffix);
          end = size - 1;
        }
        ok = start <= end && start < size;
      }
      if (!ok) {
        res.writeHead(416, { 'Content-Range': `bytes */${size}`, ...headers });
        res.end();
        return;
      }
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    }
    const length = Math.max(0, end - start + 1);
    headers['Content-Length'] = length;
    res.writeHead(status, headers);
    if (req.method === 'HEAD' || length === 0) {
      res.end();
      return;
    }
    if (pointer !== undefined) {
      const body = Buffer.from(pointer).subarray(start, end + 1);
      res.end(body);
      return;
    }
    let cutAt: number | undefined;
    if (faults.cutAfterBytes !== undefined && length > faults.cutAfterBytes) {
      cutAt = faults.cutAfterBytes;
      faults.cutAfterBytes = undefined;
    }
    const stream = createReadStream(file.abs, { start, end });
    let written = 0;
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        if (res.destroyed) break;
        let piece = chunk;
        if (cutAt !== undefined && written + piece.length >= cutAt) {
          piece = piece.subarray(0, cutAt - written);
          written += piece.length;
          await new Promise<void>((done) => res.write(piece, () => done()));
          res.socket?.destroy();
          return;
        }
        written += piece.length;
        if (!res.write(piece)) {
          await new Promise<void>((done) => {
            const finish = () => {
              res.off('drain', finish);
              res.off('close', finish);
              done();
            };
            res.on('drain', finish);
            res.on('close', finish);
          });
        }
      }
    } finally {
      stream.destroy();
    }
    res.end();
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const segments = url.pathname.split('/').filter((s) => s.length > 0);
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, `Method ${method} not allowed`);
    if (segments[0] === 'api' && segments[1] === 'models') {
      if (segments.length === 2) return handleSearch(res, url.searchParams);
      const id = `${decodeURIComponent(segments[2] ?? '')}/${decodeURIComponent(segments[3] ?? '')}`;
      const repo = await findRepo(id, req);
      const action = segments[4];
      if (action === undefined) return sendJson(res, 200, modelJson(repo, url.searchParams.getAll('expand')));
      if (action === 'revision') {
        checkRevision(repo, decodeURIComponent(segments.slice(5).join('/')));
        return sendJson(res, 200, modelJson(repo, url.searchParams.getAll('expand')));
      }
      if (action === 'tree') return handleTree(res, repo, segments.slice(5), url.searchParams);
      throw new HttpError(404, 'Sorry, we can\u2019t find the page you are looking for.');
    }
    if (segments.length >= 5 && (segments[2] === 'resolve' || segments[2] === 'raw')) {
      const id = `${decodeURIComponent(segments[0]!)}/${decodeURIComponent(segments[1]!)}`;
      const repo = await findRepo(id, req);
      const revision = decodeURIComponent(segments[3]!);
      const path = segments
        .slice(4)
        .map((s) => decodeURIComponent(s))
        .join('/');
      return handleFile(req, res, repo, revision, path, segments[2] === 'raw');
    }
    throw new HttpError(404, 'Sorry, we can\u2019t find the page you are looking for.');
  }

  const server = createServer((req, res) => {
    const requestId = `local-${++requestCounter}`;
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Expose-Headers', EXPOSED_HEADERS);
    res.setHeader('X-Request-Id', requestId);
    const record: HubRequestRecord = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      status: 0,
      bytes: 0,
    };
    if (req.headers.range) record.range = req.headers.range;
    if (req.headers.authorization) record.authorization = req.headers.authorization;
    requests.push(record);
    const write = res.write.bind(res) as (chunk: unknown, ...rest: unknown[]) => boolean;
    res.write = ((chunk: unknown, ...rest: unknown[]) => {
      record.status = res.statusCode;
      if (chunk instanceof Uint8Array || typeof chunk === 'string') record.bytes += Buffer.byteLength(chunk);
      return write(chunk, ...rest);
    }) as typeof res.write;
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
    res.end = ((...args: unknown[]) => {
      record.status = res.statusCode;
      const chunk = args[0];
      if (chunk instanceof Uint8Array || typeof chunk === 'string') record.bytes += Buffer.byteLength(chunk);
      return end(...args);
    }) as typeof res.end;
    const respond = async (): Promise<void> => {
      if (req.method === 'OPTIONS') {
        res.writeHead(204, {
          'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
          'Access-Control-Allow-Headers': 'Authorization, Range, Content-Type, Accept, X-Requested-With',
          'Access-Control-Max-Age': '86400',
        });
        res.end();
        return;
      }
      if (faults.failNext !== undefined && faults.failNext > 0) {
        faults.failNext -= 1;
        return sendJson(res, 500, { error: 'Internal Error - injected by the test hub' });
      }
      try {
        return await route(req, res);
      } catch (e) {
        if (res.headersSent) {
          res.destroy();
          return;
        }
        if (e instanceof HttpError) {
          const headers: Record<string, string> = { 'X-Error-Message': e.error };
          if (e.code) headers['X-Error-Code'] = e.code;
          if (req.method === 'HEAD') res.writeHead(e.status, headers).end();
          else sendJson(res, e.status, { error: e.error }, headers);
          return;
        }
        return sendJson(res, 500, { error: e instanceof Error ? e.message : String(e) });
      }
    };
    respond()
      .then(() => {
        record.status = res.statusCode;
      })
      .catch(() => {
        record.status = res.statusCode;
        res.destroy();
      });
  });

  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 0, '127.0.0.1', () => done());
  });
  const port = (server.address() as AddressInfo).port;
  baseUrl = `http://127.0.0.1:${port}`;
  const repoSpecs = new Map(Object.entries(specs));
  let closing: Promise<void> | undefined;
  return {
    url: baseUrl,
    port,
    stats,
    faults,
    repos: repoSpecs,
    close: () => {
      closing ??= new Promise<void>((done, fail) => {
        server.close((err) => (err ? fail(err) : done()));
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return import.meta.url === pathToFileURL(resolve(entry)).href && statSync(entry).isFile();
  } catch {
    return false;
  }
}

if (isMain()) {
  const portArg = process.argv.indexOf('--port');
  const port = portArg >= 0 ? Number(process.argv[portArg + 1]) : 0;
  const hub = await startHubServer({ port });
  console.log(hub.url);
  const stop = () => {
    hub.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
