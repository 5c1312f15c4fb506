/**
 * The bytes of a LoRA file, from any `LoraFileSource`: a Hub repo file (through the Hub client,
 * its cache and token), a URL (a URL of the configured Hub's `resolve`/`blob` form is read as that
 * repo file; any other URL is fetched as is), or bytes the page already holds. Files and repo
 * paths must be named `.safetensors` (DESIGN.md decision 9); the header check refuses pickles
 * whatever the name.
 */
import type { LoraDownloadProgress, LoraFileSource } from '../../api.ts';
import { LorafuseError } from '../../errors.ts';
import { fromStatus, isAbort, networkError } from '../io/hub/hub-error.ts';
import { DEFAULT_HUB_URL, type DownloadOptions, downloadFile } from '../io/hub.ts';
import { refuseNonSafetensors } from '../pipeline/adapters/lora-source.ts';

export interface LoraBytes {
  /** What messages and the summary call the file: `repo/path`, the URL, or the dropped file's name. */
  file: string;
  bytes: Uint8Array;
}

export interface ReadLoraOptions {
  /** Hub endpoint, token, fetch and cache for repo files. */
  hub: Omit<DownloadOptions, 'onProgress' | 'revision'>;
  onProgress?: ((p: LoraDownloadProgress) => void) | undefined;
}

/**
 * `{repo, weightName, revision}` when `url` is a file URL of the Hub at `hubUrl`
 * (`<hub>/<owner>/<name>/resolve|blob/<revision>/<path>`), else null.
 */
export function hubFileFromUrl(
  url: string,
  hubUrl: string,
): { repo: string; weightName: string; revision: string } | null {
  let u: URL;
  let hub: URL;
  try {
    u = new URL(url);
    hub = new URL(hubUrl);
  } catch {
    return null;
  }
  if (u.origin !== hub.origin) return null;
  const base = hub.pathname.replace(/\/+$/, '');
  if (!u.pathname.startsWith(`${base}/`)) return null;
  const parts = u.pathname
    .slice(base.length + 1)
    .split('/')
    .map(decodeURIComponent);
  const [owner, name, action, revision, ...path] = parts;
  if (!owner || !name || (action !== 'resolve' && action !== 'blob') || !revision || path.length === 0) {
    return null;
  }
  return { repo: `${owner}/${name}`, weightName: path.join('/'), revision };
}

async function fetchUrl(
  url: string,
  doFetch: typeof fetch,
  onProgress: ReadLoraOptions['onProgress'],
): Promise<Uint8Array> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new LorafuseError(
      'invalid-argument',
      `'${url}' is not a URL: paste a full http(s) link to a .safetensors file.`,
      {
        url,
      },
    );
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new LorafuseError('invalid-argument', `'${url}' is not an http(s) URL.`, { url });
  }
  const ctx = { repo: url, hubUrl: parsed.origin };
  let res: Response;
  try {
    res = await doFetch(url);
  } catch (e) {
    if (isAbort(e)) throw e;
    throw networkError(ctx, e instanceof Error ? e.message : String(e), e);
  }
  if (!res.ok) throw fromStatus(res.status, res.statusText, ctx);
  const total = Number(res.headers.get('Content-Length') ?? 0) || 0;
  if (!res.body) {
    const bytes = new Uint8Array(await res.arrayBuffer());
    onProgress?.({ loaded: bytes.byteLength, total: bytes.byteLength, file: url });
    return bytes;
  }
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      loaded += value.byteLength;
      onProgress?.({ loaded, total, file: url });
    }
  } catch (e) {
    throw networkError(ctx, `the download stopped after ${loaded} bytes`, e);
  }
  const out = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

export async function readLoraBytes(source: LoraFileSource, opts: ReadLoraOptions): Promise<LoraBytes> {
  const { onProgress } = opts;
  if ('bytes' in source) {
    refuseNonSafetensors(source.name);
    onProgress?.({ loaded: source.bytes.byteLength, total: source.bytes.byteLength, file: source.name });
    return { file: source.name, bytes: source.bytes };
  }
  const repoFile = 'repo' in source ? source : hubFileFromUrl(source.url, opts.hub.hubUrl ?? DEFAULT_HUB_URL);
  if (repoFile) {
    refuseNonSafetensors(repoFile.weightName);
    const file = `${repoFile.repo}/${repoFile.weightName}`;
    const blob = await downloadFile(repoFile.repo, repoFile.weightName, {
      ...opts.hub,
      ...(repoFile.revision ? { revision: repoFile.revision } : {}),
      onProgress: (p) => onProgress?.({ loaded: p.loaded, total: p.total, file }),
    });
    return { file, bytes: new Uint8Array(await blob.arrayBuffer()) };
  }
  if (!('url' in source)) throw new LorafuseError('internal', 'unreachable LoRA source');
  // Download links often have no file name (`.../api/download/models/123`): the header check is
  // what refuses a pickle here.
  return { file: source.url, bytes: await fetchUrl(source.url, opts.hub.fetch ?? fetch, onProgress) };
}
