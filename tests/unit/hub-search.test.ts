import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { searchModels } from '../../src/core/io/hub.ts';
import { type HubServer, startHubServer } from '../hub-server.ts';

/** Expected LoRA repos per base, read from the fixtures' own index (not from the server). */
function lorasFor(base: string): string[] {
  const index = JSON.parse(
    readFileSync(join(import.meta.dirname, '..', 'fixtures', 'loras', 'index.json'), 'utf8'),
  ) as Record<string, { file: string; model: string }>;
  return Object.values(index)
    .filter((e) => e.model === `models/${base}`)
    .map((e) => `fixtures/${e.file.split('/')[1]}`)
    .sort();
}

describe('hub model search', () => {
  let hub: HubServer;
  beforeAll(async () => {
    hub = await startHubServer();
  });
  afterAll(() => hub.close());

  it('a base_model filter returns exactly the fixture LoRAs for that base', async () => {
    for (const base of ['tiny-sd15', 'tiny-sdxl']) {
      const expected = lorasFor(base);
      expect(expected.length).toBeGreaterThan(1);
      const hits = await searchModels(
        { filter: [`base_model:fixtures/${base}`, 'lora'] },
        { hubUrl: hub.url },
      );
      const repos = hits.map((h) => h.repo).filter((r) => r !== 'fixtures/lycoris');
      expect(repos.sort()).toEqual(expected);
      for (const h of hits) expect(h.baseModels).toEqual([`fixtures/${base}`]);
    }
    // The LyCORIS set is an SD1.5 adapter too.
    const sd15 = await searchModels({ filter: ['base_model:fixtures/tiny-sd15'] }, { hubUrl: hub.url });
    expect(sd15.map((h) => h.repo)).toContain('fixtures/lycoris');
  });

  it('search text and limit through the client', async () => {
    const kohya = await searchModels({ search: 'kohya', filter: ['lora'] }, { hubUrl: hub.url });
    expect(kohya.map((h) => h.repo).every((r) => r.includes('kohya'))).toBe(true);
    expect(kohya.length).toBe(
      lorasFor('tiny-sd15')
        .concat(lorasFor('tiny-sdxl'))
        .filter((r) => r.includes('kohya')).length,
    );
    const two = await searchModels({ filter: ['lora'], limit: 2 }, { hubUrl: hub.url });
    expect(two.length).toBe(2);
    expect(await searchModels({ filter: ['base_model:fixtures/none'] }, { hubUrl: hub.url })).toEqual([]);
  });
});
