/**
 * A tiny static server for `dist/`, mounted under a sub-path to prove the relative base works,
 * with the cross-origin isolation headers onnxruntime-web needs for wasm threads.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve, sep } from 'node:path';

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

export interface StaticServer {
  /** The app's URL, ending in `/` (e.g. http://127.0.0.1:41234/app/sub/). */
  url: string;
  /** Every request path served, with its status (for assertions and debugging). */
  log: Array<{ path: string; status: number }>;
  close(): Promise<void>;
}

/** Serves `root` under `base` (which starts and ends with `/`) on 127.0.0.1 and an ephemeral port. */
export async function serveStatic(root: string, base = '/app/sub/'): Promise<StaticServer> {
  if (!base.startsWith('/') || !base.endsWith('/'))
    throw new Error(`base must start and end with '/': ${base}`);
  const rootDir = resolve(root);
  const log: StaticServer['log'] = [];

  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const send = (status: number, body = '', headers: Record<string, string> = {}) => {
      log.push({ path, status });
      res.writeHead(status, {
        ...ISOLATION_HEADERS,
        'Content-Type': 'text/plain; charset=utf-8',
        ...headers,
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return send(405, 'method not allowed', { Allow: 'GET, HEAD' });
    if (`${path}/` === base) return send(301, '', { Location: base });
    if (!path.startsWith(base)) return send(404, `not under ${base}: ${path}`);

    let rel: string;
    try {
      rel = decodeURIComponent(path.slice(base.length));
    } catch {
      return send(400, 'bad path encoding');
    }
    const file = normalize(join(rootDir, rel || 'index.html'));
    if (file !== rootDir && !file.startsWith(rootDir + sep)) return send(403, 'outside the served folder');
    let target = file;
    try {
      if ((await stat(target)).isDirectory()) target = join(target, 'index.html');
      const info = await stat(target);
      log.push({ path, status: 200 });
      res.writeHead(200, {
        ...ISOLATION_HEADERS,
        'Content-Type': MIME[extname(target).toLowerCase()] ?? 'application/octet-stream',
        'Content-Length': String(info.size),
        'Cache-Control': 'no-store',
      });
      if (req.method === 'HEAD') return res.end();
      createReadStream(target).pipe(res);
    } catch {
      send(404, `not found: ${rel}`);
    }
  });

  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', ok);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${base}`,
    log,
    close: () =>
      new Promise<void>((ok, fail) => {
        server.closeAllConnections();
        server.close((e) => (e ? fail(e) : ok()));
      }),
  };
}
