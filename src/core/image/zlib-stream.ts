/**
 * zlib (RFC 1950) compression through the platform's `CompressionStream('deflate')` and
 * `DecompressionStream('deflate')`: browsers, workers and Node >= 18 have them, so PNG needs no
 * dependency. PNG's IDAT, zTXt and compressed iTXt all hold zlib streams (the 'deflate' format of
 * the Compression Streams spec, not 'deflate-raw').
 */
import { LorafuseError } from '../../errors.ts';

async function collect(readable: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const reader = readable.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    total += value.byteLength;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

async function pipe(bytes: Uint8Array, stream: CompressionStream | DecompressionStream): Promise<Uint8Array> {
  const writer = stream.writable.getWriter();
  // Write and read at once: a large input would otherwise wait on back-pressure forever.
  const writing = writer.write(bytes as Uint8Array<ArrayBuffer>).then(() => writer.close());
  const [out] = await Promise.all([collect(stream.readable as ReadableStream<Uint8Array>), writing]);
  return out;
}

/** zlib-wrapped deflate of `bytes`. */
export function zlibDeflate(bytes: Uint8Array): Promise<Uint8Array> {
  return pipe(bytes, new CompressionStream('deflate'));
}

/**
 * Inflates a zlib stream. `what` names the data in the error (e.g. "zTXt chunk 'parameters'"):
 * corrupt or truncated data is `invalid-argument`.
 */
export async function zlibInflate(bytes: Uint8Array, what: string): Promise<Uint8Array> {
  try {
    return await pipe(bytes, new DecompressionStream('deflate'));
  } catch (e) {
    throw new LorafuseError(
      'invalid-argument',
      `${what}: the compressed data is corrupt or truncated (${e instanceof Error ? e.message : String(e)}).`,
      { what },
      { cause: e },
    );
  }
}
