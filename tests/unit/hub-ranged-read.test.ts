import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileUrl, hubAuthHeaders } from '../../src/core/io/hub.ts';
import { bufferSource, httpSource, openSafetensors } from '../../src/core/io/safetensors.ts';
import { type HubServer, PRIVATE_LORA_REPO, startHubServer, TEST_TOKEN } from '../hub-server.ts';

/** fileUrl + hubAuthHeaders feed the safetensors module's httpSource: only the bytes asked for travel. */
describe('ranged reads of Hub files through httpSource', () => {
  let hub: HubServer;
  beforeAll(async () => {
    hub = await startHubServer();
  });
  afterAll(() => hub.close());

  it('reads one tensor of a private LoRA with the token, fetching far less than the file', async () => {
    const disk = new Uint8Array(
      readFileSync(
        join(import.meta.dirname, '..', 'fixtures', 'loras', 'sd15-kohya', 'sd15-kohya.safetensors'),
      ),
    );
    const local = await openSafetensors(bufferSource(disk, 'sd15-kohya.safetensors'));
    const opts = { hubUrl: hub.url, token: TEST_TOKEN };
    const remote = await openSafetensors(
      httpSource(fileUrl(PRIVATE_LORA_REPO, 'sd15-kohya.safetensors', opts), {
        headers: hubAuthHeaders(opts),
      }),
    );
    expect(remote.names()).toEqual(local.names());
    const name = remote.names().at(-1)!;
    hub.stats.reset();
    const bytes = await remote.readRaw(name);
    expect(Buffer.from(bytes).equals(Buffer.from(await local.readRaw(name)))).toBe(true);
    expect(hub.stats.requests.map((r) => r.status)).toEqual([206]);
    expect(hub.stats.bytesServed()).toBe(bytes.length);
    expect(bytes.length).toBeLessThan(disk.length / 10);
    // Without the token the same URL is refused.
    await expect(
      openSafetensors(httpSource(fileUrl(PRIVATE_LORA_REPO, 'sd15-kohya.safetensors', { hubUrl: hub.url }))),
    ).rejects.toMatchObject({ code: 'hub-unauthorized' });
  });
});
