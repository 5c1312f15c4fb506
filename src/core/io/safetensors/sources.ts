/**
 * Byte sources: where a safetensors file's bytes come from (memory, a Blob/File, or HTTP with
 * Range requests). A reader asks for byte ranges only, so a remote file is never downloaded whole
 * just to read its header or one tensor.
 */
import type { ErrorCode } from '../../../errors.ts';
import { LorafuseError } from '../../../errors.ts';

export interface ByteSource {
  name: string;
  size(): Promise<number>;
  /** Bytes [begin, end); exactly end - begin of them, or a LorafuseError. */
  read(begin: number, end: number): Promise<Uint8Array>;
}

function checkRange(name: string, begin: number, end: number, size: number): void {
  if (
    !(Number.isSafeInteger(begin) && Number.isSafeInteger(end) && begin >= 0 && begin <= end && end <= size)
  ) {
    throw new LorafuseError('invalid-argument', `${name}: cannot read bytes [${begin}, ${end}) of ${size}`, {
      file: name,
      begin,
      end,
      size,
    });
  }
}

/** Bytes already in memory; reads are views, not copies. */
export function bufferSource(buf: ArrayBuffer | Uint8Array, name: string): ByteSource {
  const bytes = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
  return {
    name,
    size: async () => bytes.byteLength,
    read: async (begin, end) => {
      checkRange(name, begin, end, bytes.byteLength);
      return bytes.subarray(begin, end);
    },
  };
}

/** A Blob or a File (drag-and-drop, `<input type=file>`): reads slice it, nothing else is loaded. */
export function blobSource(blob: Blob, name: string = (blob as File).name ?? 'blob'): ByteSource {
  return {
    name,
    size: async () => blob.size,
    read: async (begin, end) => {
      checkRange(name, begin, end, blob.size);
      return new Uint8Array(await blob.slice(begin, end).arrayBuffer());
    },
  };
}

export interface HttpSourceOptions {
  fetch?: typeof fetch;
  headers?: Record<string, string>;
  /** Shown in messages; defaults to the URL's last path segment. */
  name?: string;
  /**
   * What to do with a server that ignores `Range` (answers 200 with the whole file). By default
   * that is an error, because every read would download the whole file again. With `true` the
   * whole body is downloaded once, kept in memory, and every read slices it.
   */
  allowFullDownload?: boolean;
}

function httpError(name: string, url: string, res: Response, what: string): LorafuseError {
  const code: ErrorCode =
    res.status === 404
      ? 'hub-not-found'
      : res.status === 401 || res.status === 403
        ? 'hub-unauthorized'
        : 'hub-network';
  const hint =
    code === 'hub-unauthorized'
      ? 'Check the access token, or accept the model licence on its page.'
      : code === 'hub-not-found'
        ? 'Check the repository, revision and file name.'
        : 'Check the connection and try again.';
  return new LorafuseError(code, `${name}: ${what} failed with HTTP ${res.status} (${url}). ${hint}`, {
    file: name,
    url,
    status: res.status,
  });
}

/** `bytes a-b/total` -> [a, b, total]; total may be NaN for `*`. */
function contentRange(res: Response): [number, number, number] | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range')?.trim() ?? '');
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

/**
 * A file over HTTP(S). `size()` asks with HEAD (Content-Length), falling back to a one-byte Range
 * probe (Content-Range total); `read()` sends `Range: bytes=begin-(end-1)` and checks the answer.
 */
export function httpSource(url: string, opts: HttpSourceOptions = {}): ByteSource {
  const doFetch = opts.fetch ?? globalThis.fetch.bind(globalThis);
  const name = opts.name ?? decodeURIComponent(new URL(url, 'http://x/').pathname.split('/').pop() || url);
  let sizeP: Promise<number> | undefined;
  let whole: Promise<Uint8Array> | undefined;

  const get = async (range: string | undefined, what: string): Promise<Response> => {
    let res: Response;
    try {
      res = await doFetch(url, { headers: { ...opts.headers, ...(range ? { Range: range } : {}) } });
    } catch (e) {
      throw new LorafuseError('hub-network', `${name}: ${what} failed (${(e as Error).message}) for ${url}`, {
        file: name,
        url,
      });
    }
    if (!res.ok) throw httpError(name, url, res, what);
    return res;
  };

  const noRange = async (res: Response): Promise<Uint8Array> => {
    if (!opts.allowFullDownload) {
      await res.body?.cancel();
      throw new LorafuseError(
        'hub-network',
        `${name}: the server ignored the Range header and sent the whole file (${url}); reading one ` +
          'tensor would download everything each time. Use a server with Range support, download the ' +
          'file and open it locally, or pass allowFullDownload: true to keep one full copy in memory.',
        { file: name, url, status: res.status },
      );
    }
    whole ??= res.arrayBuffer().then((b) => new Uint8Array(b));
    return whole;
  };

  const size = async (): Promise<number> => {
    const head = await doFetch(url, { method: 'HEAD', headers: opts.headers }).catch(() => undefined);
    const len = head?.ok && !head.headers.get('content-encoding') ? head.headers.get('content-length') : null;
    if (len !== null && len !== undefined && /^\d+$/.test(len)) return Number(len);
    const res = await get('bytes=0-0', 'the size probe');
    const cr = contentRange(res);
    if (res.status === 206 && cr && Number.isSafeInteger(cr[2])) {
      await res.body?.cancel();
      return cr[2];
    }
    if (res.status === 200) return (await noRange(res)).byteLength;
    await res.body?.cancel();
    throw new LorafuseError('hub-network', `${name}: the server did not report the file size (${url})`, {
      file: name,
      url,
    });
  };

  return {
    name,
    size: () => {
      if (!sizeP) {
        sizeP = size();
        sizeP.catch(() => {
          sizeP = undefined; // a failed probe may be retried
        });
      }
      return sizeP;
    },
    read: async (begin, end) => {
      if (whole) {
        const all = await whole;
        checkRange(name, begin, end, all.byteLength);
        return all.subarray(begin, end);
      }
      if (!(Number.isSafeInteger(begin) && Number.isSafeInteger(end) && begin >= 0 && begin <= end)) {
        checkRange(name, begin, end, Number.MAX_SAFE_INTEGER);
      }
      if (begin === end) return new Uint8Array(0);
      const res = await get(`bytes=${begin}-${end - 1}`, `reading bytes [${begin}, ${end})`);
      if (res.status === 200) {
        const all = await noRange(res);
        checkRange(name, begin, end, all.byteLength);
        return all.subarray(begin, end);
      }
      const cr = contentRange(res);
      if (res.status !== 206 || (cr && (cr[0] !== begin || cr[1] !== end - 1))) {
        await res.body?.cancel();
        throw new LorafuseError(
          'hub-network',
          `${name}: asked for bytes [${begin}, ${end}) and got HTTP ${res.status} ${res.headers.get('content-range') ?? ''} (${url})`,
          { file: name, url, status: res.status },
        );
      }
      const body = new Uint8Array(await res.arrayBuffer());
      if (body.byteLength !== end - begin) {
        throw new LorafuseError(
          'hub-network',
          `${name}: asked for ${end - begin} bytes at ${begin} and got ${body.byteLength}; the transfer was cut short (${url})`,
          { file: name, url },
        );
      }
      return body;
    },
  };
}
