/**
 * Byte sources: a local node:http server with Range support that counts the body bytes it sends
 * (reading one tensor transfers the header and that tensor only), a server that ignores Range,
 * and Blob/buffer sources.
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  blobSource,
  bufferSource,
  httpSource,
  openSafetensors,
  readSafetensors,
  writeSafetensors,
} from '../../src/core/io/safetensors.ts';
import { LorafuseError } from '../../src/errors.ts';

const N = 256 * 1024; // floats per tensor: 1 MiB each
const tensors = Array.from({ length: 6 }, (_, k) => ({
  name: `blocks.${k}.weight`,
  dtype: (k % 2 ? 'F16' : 'F32') as 'F16' | 'F32',
  shape: [N / 256, 256],
  data:
    k % 2
      ? Uint16Array.from({ length: N }, (_, i) => (i * 7 + k) & 0x3bff)
      : Float32Array.from({ length: N }, (_, i) => i * 0.5 - k),
}));
const FILE = writeSafetensors(tensors, { format: 'pt' });

interface Counting {
  server: Server;
  url: string;
  sent: number;
  requests: string[];
}

function serve(honourRange: boolean): Promise<Counting> {
  const state = { sent: 0, requests: [] as string[] } as Counting;
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    state.requests.push(`${req.method} ${req.headers.range ?? ''}`);
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    const send = (status: number, body: Uint8Array, headers: Record<string, string>) => {
      res.writeHead(status, { 'Content-Length': String(body.length), 'Accept-Ranges': 'bytes', ...headers });
      if (req.method === 'HEAD') return res.end();
      state.sent += body.length;
      res.end(body);
    };
    if (req.method === 'HEAD' || !m || !honourRange) return send(200, FILE, {});
    const a = Number(m[1]);
    const b = Math.min(Number(m[2]), FILE.length - 1);
    if (a >= FILE.length) {
      res.writeHead(416, { 'Content-Range': `bytes */${FILE.length}` });
      return res.end();
    }
    send(206, FILE.subarray(a, b + 1), { 'Content-Range': `bytes ${a}-${b}/${FILE.length}` });
  };
  return new Promise((resolve) => {
    state.server = createServer(handler).listen(0, '127.0.0.1', () => {
      state.url = `http://127.0.0.1:${(state.server.address() as AddressInfo).port}/repo/resolve/main/unet.safetensors`;
      resolve(state);
    });
  });
}

describe('httpSource', () => {
  let ranged: Counting;
  let plain: Counting;
  beforeAll(async () => {
    ranged = await serve(true);
    plain = await serve(false);
  });
  afterAll(() => {
    ranged.server.close();
    plain.server.close();
  });

  it('reads one tensor with ranged requests: header + that tensor only', async () => {
    ranged.sent = 0;
    const reader = await openSafetensors(httpSource(ranged.url));
    expect(reader.fileName).toBe('unet.safetensors');
    expect(reader.names()).toEqual(tensors.map((t) => t.name));
    const afterHeader = ranged.sent;
    // bytes [0, 9) then [8, dataOffset): byte 8 travels twice
    expect(afterHeader).toBe(reader.header.dataOffset + 1);
    const got = await reader.readFloat32('blocks.2.weight');
    expect(Array.from(got)).toEqual(Array.from(tensors[2]!.data as Float32Array));
    const info = reader.info('blocks.2.weight');
    expect(ranged.sent - afterHeader).toBe(info.end - info.begin);
    expect(ranged.sent).toBeLessThan(FILE.length / 4);
    const f16 = await reader.readFloat32('blocks.3.weight');
    expect(Array.from(f16)).toEqual(Array.from(readSafetensors(FILE, 'x').float32('blocks.3.weight')));
    expect(ranged.requests.filter((r) => r.startsWith('GET')).every((r) => r.includes('bytes='))).toBe(true);
  });

  it('refuses a server that ignores Range instead of downloading the file per read', async () => {
    plain.sent = 0;
    const err = await openSafetensors(httpSource(plain.url)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LorafuseError);
    expect((err as LorafuseError).message).toMatch(/unet\.safetensors: the server ignored the Range header/);
    expect(plain.sent).toBeLessThanOrEqual(FILE.length); // node may have pushed the body before we cancelled
  });

  it('with allowFullDownload, downloads once and slices', async () => {
    plain.sent = 0;
    const reader = await openSafetensors(httpSource(plain.url, { allowFullDownload: true }));
    for (const t of tensors) await reader.readRaw(t.name);
    expect(Array.from(await reader.readFloat32('blocks.0.weight'))).toEqual(Array.from(tensors[0]!.data));
    expect(plain.sent).toBe(FILE.length);
  });

  it('maps HTTP errors to codes and passes headers', async () => {
    const seen: Array<Record<string, string>> = [];
    const fake = async (_: RequestInfo | URL, init?: RequestInit) => {
      seen.push((init?.headers ?? {}) as Record<string, string>);
      return new Response(null, { status: 401 });
    };
    const err = await openSafetensors(
      httpSource('https://hub.example/x/lora.safetensors?download=1', {
        fetch: fake,
        headers: { Authorization: 'Bearer t' },
      }),
    ).catch((e: unknown) => e);
    expect((err as LorafuseError).code).toBe('hub-unauthorized');
    expect((err as LorafuseError).message).toMatch(/lora\.safetensors: .*HTTP 401/);
    expect(seen.every((h) => h.Authorization === 'Bearer t')).toBe(true);
  });

  it('rejects a short 206 body', async () => {
    const fake = async (_: RequestInfo | URL, init?: RequestInit) => {
      if (init?.method === 'HEAD')
        return new Response(null, { headers: { 'Content-Length': String(FILE.length) } });
      return new Response(FILE.slice(0, 4), { status: 206 });
    };
    const err = await openSafetensors(httpSource('http://h/a.safetensors', { fetch: fake })).catch(
      (e: unknown) => e,
    );
    expect((err as LorafuseError).message).toMatch(/a\.safetensors: asked for 9 bytes at 0 and got 4/);
  });
});

describe('blobSource and bufferSource', () => {
  it('reads tensors from a Blob and a File', async () => {
    for (const blob of [new Blob([FILE]), new File([FILE], 'local.safetensors')]) {
      const reader = await openSafetensors(
        blobSource(blob, blob instanceof File ? blob.name : 'blob.safetensors'),
      );
      expect(reader.names().length).toBe(tensors.length);
      const raw = await reader.readRaw('blocks.1.weight');
      expect(Buffer.from(raw).equals(Buffer.from(tensors[1]!.data.buffer))).toBe(true);
      expect(Array.from((await reader.readBytes('blocks.0.weight', 4, 12)).values())).toEqual(
        Array.from(new Uint8Array(tensors[0]!.data.buffer, 4, 8)),
      );
    }
  });

  it('validates through openSafetensors exactly like readSafetensors', async () => {
    const bad = FILE.slice(0, FILE.length - 1);
    const a = await openSafetensors(bufferSource(bad, 'cut.safetensors')).catch((e: unknown) => e);
    let b: unknown;
    try {
      readSafetensors(bad, 'cut.safetensors');
    } catch (e) {
      b = e;
    }
    expect((a as LorafuseError).message).toMatch(/cut\.safetensors: tensor 'blocks\.5\.weight'.*end past/);
    expect((a as LorafuseError).message).toBe((b as LorafuseError).message);
  });

  it('rejects reads outside the tensor', async () => {
    const reader = await openSafetensors(bufferSource(FILE, 'f.safetensors'));
    await expect(reader.readBytes('blocks.0.weight', 0, N * 4 + 1)).rejects.toThrow(
      /f\.safetensors: tensor 'blocks\.0\.weight'/,
    );
    await expect(reader.readRaw('nope')).rejects.toThrow(/f\.safetensors: no tensor 'nope'/);
  });
});
