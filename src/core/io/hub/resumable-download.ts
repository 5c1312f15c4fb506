/**
 * Streams one file over HTTP with byte progress. When the connection drops mid-body it resumes with
 * `Range: bytes=<loaded>-` (bounded retries with exponential backoff; the counter resets whenever
 * bytes arrive), and it checks that exactly `size` bytes arrived.
 */
import { LorafuseError } from '../../../errors.ts';
import {
  cancelled,
  fromStatus,
  type HubErrorContext,
  isAbort,
  isNetworkFailure,
  networkError,
  serverError,
} from './hub-error.ts';

export interface RetryOptions {
  /** Consecutive failed attempts (no byte received) before giving up. Default 4. */
  retries?: number;
  /** First backoff delay; doubles per consecutive failure, capped at 4 s. Default 250 ms. */
  baseDelayMs?: number;
}

export interface ByteSink {
  write(chunk: Uint8Array): Promise<void>;
  /** The server ignored a Range request and sends the file again from byte 0: drop what was written. */
  restart(): Promise<void>;
}

export interface ResumableDownload {
  url: string;
  size: number;
  headers: Record<string, string>;
  fetch: typeof fetch;
  sink: ByteSink;
  ctx: HubErrorContext;
  signal?: AbortSignal;
  retry?: RetryOptions;
  onProgress?: (loaded: number) => void;
}

const MAX_DELAY_MS = 4000;

export async function downloadWithResume(d: ResumableDownload): Promise<void> {
  const retries = d.retry?.retries ?? 4;
  const baseDelay = d.retry?.baseDelayMs ?? 250;
  let loaded = 0;
  let failures = 0;

  const fail = async (e: unknown): Promise<void> => {
    if (d.signal?.aborted || isAbort(e)) throw cancelled(d.ctx, e);
    failures += 1;
    if (failures > retries) {
      if (e instanceof LorafuseError) throw e;
      throw networkError(d.ctx, `connection lost after ${loaded} of ${d.size} bytes, ${retries} retries`, e);
    }
    await sleep(Math.min(MAX_DELAY_MS, baseDelay * 2 ** (failures - 1)), d.signal);
  };

  d.onProgress?.(0);
  while (loaded < d.size) {
    const headers: Record<string, string> = { ...d.headers };
    if (loaded > 0) headers.Range = `bytes=${loaded}-`;
    let res: Response;
    try {
      res = await d.fetch(d.url, { headers, signal: d.signal });
    } catch (e) {
      if (!isNetworkFailure(e) && !isAbort(e)) throw e;
      await fail(e);
      continue;
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      if (res.status >= 500 || res.status === 429) {
        await fail(serverError(d.ctx, res.status));
        continue;
      }
      throw fromStatus(res.status, res.headers.get('X-Error-Code') ?? res.statusText, d.ctx);
    }
    if (loaded > 0 && !resumesAt(res, loaded)) {
      if (res.status !== 200) {
        await res.body?.cancel().catch(() => undefined);
        throw new LorafuseError(
          'hub-network',
          `The Hub answered a resume request for '${d.ctx.path}' with an unexpected range (${res.headers.get('Content-Range')}); retry the download`,
          { repo: d.ctx.repo, path: d.ctx.path, loaded, contentRange: res.headers.get('Content-Range') },
        );
      }
      // A full 200 answer: the server ignored Range. Start over.
      await d.sink.restart();
      loaded = 0;
      d.onProgress?.(0);
    }
    if (!res.body) {
      await fail(networkError(d.ctx, 'empty response body'));
      continue;
    }
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (loaded + value.byteLength > d.size) {
          throw new LorafuseError(
            'hub-network',
            `The Hub sent more than the ${d.size} bytes it announced for '${d.ctx.path}' in '${d.ctx.repo}' (the file changed on the server?); retry the download`,
            { repo: d.ctx.repo, path: d.ctx.path, expected: d.size },
          );
        }
        await d.sink.write(value);
        loaded += value.byteLength;
        failures = 0;
        d.onProgress?.(loaded);
      }
    } catch (e) {
      reader.releaseLock();
      if (e instanceof LorafuseError) throw e;
      if (!isNetworkFailure(e) && !isAbort(e)) throw e;
      await fail(e);
      continue;
    }
    if (loaded < d.size) await fail(networkError(d.ctx, `body ended after ${loaded} of ${d.size} bytes`));
  }
}

/** A 206 whose Content-Range starts at `loaded`. */
function resumesAt(res: Response, loaded: number): boolean {
  if (res.status !== 206) return false;
  const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(res.headers.get('Content-Range') ?? '');
  return m !== null && Number(m[1]) === loaded;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
