import { readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { listFiles } from '@huggingface/hub';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listRepoFiles, resolveRevision } from '../../src/core/io/hub.ts';
import { type HubServer, startHubServer } from '../hub-server.ts';

const MODEL_DIR = join(import.meta.dirname, '..', 'fixtures', 'models', 'tiny-sd15');

/** What is on disk, computed without the server: relative path -> size, plus the folders. */
function diskTree(root: string): { files: Map<string, number>; dirs: Set<string> } {
  const files = new Map<string, number>();
  const dirs = new Set<string>();
  const visit = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const abs = join(dir, name);
      const rel = relative(root, abs).split(sep).join('/');
      if (statSync(abs).isDirectory()) {
        dirs.add(rel);
        visit(abs);
      } else files.set(rel, statSync(abs).size);
    }
  };
  visit(root);
  return { files, dirs };
}

describe('hub listing', () => {
  let hub: HubServer;
  beforeAll(async () => {
    hub = await startHubServer();
  });
  afterAll(() => hub.close());

  it('lists fixtures/tiny-sd15 exactly as the folder on disk', async () => {
    const disk = diskTree(MODEL_DIR);
    expect(disk.files.size).toBeGreaterThan(5);
    const entries = await listRepoFiles('fixtures/tiny-sd15', { hubUrl: hub.url });
    const files = new Map(entries.filter((e) => e.type === 'file').map((e) => [e.path, e.size]));
    const dirs = new Set(entries.filter((e) => e.type === 'directory').map((e) => e.path));
    expect(files).toEqual(disk.files);
    expect(dirs).toEqual(disk.dirs);
    for (const e of entries) expect(e.oid).toMatch(/^[0-9a-f]{40}$/);
  });

  it('follows Link pagination of the real client and lists sub-folders non-recursively', async () => {
    const small = await startHubServer({ treePageSize: 3 });
    try {
      const disk = diskTree(MODEL_DIR);
      const entries = await listRepoFiles('fixtures/tiny-sd15', { hubUrl: small.url });
      expect(entries.filter((e) => e.type === 'file').length).toBe(disk.files.size);
      const pages = small.stats.requests.filter((r) => r.url.includes('/tree/'));
      expect(pages.length).toBe(Math.ceil((disk.files.size + disk.dirs.size) / 3));
      const unet: string[] = [];
      for await (const e of listFiles({ repo: 'fixtures/tiny-sd15', path: 'unet', hubUrl: small.url }))
        unet.push(e.path);
      expect(unet.sort()).toEqual([...disk.files.keys()].filter((p) => p.startsWith('unet/')).sort());
    } finally {
      await small.close();
    }
  });

  it('resolves main to a stable 40-hex commit, and that commit lists the same files', async () => {
    const sha = await resolveRevision('fixtures/tiny-sd15', { hubUrl: hub.url });
    expect(sha).toMatch(/^[0-9a-f]{40}$/);
    expect(await resolveRevision('fixtures/tiny-sd15', { hubUrl: hub.url })).toBe(sha);
    expect(await resolveRevision('fixtures/tiny-sdxl', { hubUrl: hub.url })).not.toBe(sha);
    const atSha = await listRepoFiles('fixtures/tiny-sd15', { hubUrl: hub.url, revision: sha });
    const atMain = await listRepoFiles('fixtures/tiny-sd15', { hubUrl: hub.url });
    expect(atSha).toEqual(atMain);
  });

  it('serves each LoRA folder and the LyCORIS set as a repo', async () => {
    const kohya = await listRepoFiles('fixtures/sd15-kohya', { hubUrl: hub.url });
    expect(kohya.map((e) => e.path)).toEqual(['sd15-kohya.safetensors']);
    const lycoris = await listRepoFiles('fixtures/lycoris', { hubUrl: hub.url });
    expect(lycoris.map((e) => e.path)).toContain('sd15-loha.safetensors');
  });
});
