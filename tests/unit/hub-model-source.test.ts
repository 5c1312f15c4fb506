import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubModelSource, LocalFolderSource, resolveModelSource } from '../../src/core/io/model-source.ts';
import { type HubServer, startHubServer } from '../hub-server.ts';

const DIR = join(import.meta.dirname, '..', 'fixtures', 'models', 'tiny-sd15');

describe('resolveModelSource (DIR_OR_REPO)', () => {
  let hub: HubServer;
  beforeAll(async () => {
    hub = await startHubServer();
  });
  afterAll(() => hub.close());

  it('an existing folder wins; anything else is a repo id', async () => {
    const local = await resolveModelSource(DIR, { hubUrl: hub.url });
    expect(local).toBeInstanceOf(LocalFolderSource);
    const remote = await resolveModelSource('fixtures/tiny-sd15', { hubUrl: hub.url });
    expect(remote).toBeInstanceOf(HubModelSource);
    expect(await remote.list()).toEqual(await local.list());
    expect(hub.stats.requests.length).toBeGreaterThan(0);
    await expect(
      resolveModelSource('not a repo!', { hubUrl: hub.url }).then((s) => s.list()),
    ).rejects.toMatchObject({
      code: 'hub-invalid-repo',
    });
  });

  it('a config-only read downloads only the config file', async () => {
    const source = await resolveModelSource('fixtures/tiny-sd15', { hubUrl: hub.url });
    hub.stats.reset();
    const text = await source.readText('unet/config.json');
    expect(JSON.parse(text)).toEqual(JSON.parse(readFileSync(join(DIR, 'unet', 'config.json'), 'utf8')));
    const files = hub.stats.requests
      .filter((r) => r.url.includes('/resolve/'))
      .map((r) => r.url.split('/').slice(-2).join('/'));
    expect(new Set(files)).toEqual(new Set(['unet/config.json']));
    expect(hub.stats.bytesServed()).toBeLessThan(10_000);
  });

  it('a missing file of a local folder is hub-not-found naming it', async () => {
    const local = await resolveModelSource(DIR);
    await expect(local.readText('unet/nope.json')).rejects.toMatchObject({ code: 'hub-not-found' });
  });
});
