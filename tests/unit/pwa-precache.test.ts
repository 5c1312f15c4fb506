/**
 * What the service worker precaches when the build contains onnxruntime-web. The app does not load
 * ORT yet, so a tiny app that does (a module worker importing `onnxruntime-web`, as the engine
 * worker will) is built with the app's own PWA options (vite.config.ts). Every file the build
 * emits, the ORT wasm included, must be in the precache manifest; otherwise the app would need the
 * network for its runtime. (Over `maximumFileSizeToCacheInBytes`, vite-plugin-pwa 2 fails the build.)
 */
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PRECACHE_BYTES, pwaOptions } from '../../vite.config.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const ORT_DIST = join(REPO, 'node_modules/onnxruntime-web/dist');
// Inside the repo (in the git-ignored .cache/) so that `onnxruntime-web` resolves from node_modules.
const PROBE = join(REPO, '.cache', `pwa-probe-${process.pid}`);
const OUT = join(PROBE, 'dist');

async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((e) => (e.isDirectory() ? walk(join(dir, e.name)) : Promise.resolve([join(dir, e.name)]))),
  );
  return nested.flat();
}

/** The `url`s of `precacheAndRoute([...])` in the generated sw.js. */
function precacheUrls(sw: string): string[] {
  return [...sw.matchAll(/\{\s*"?url"?\s*:\s*"([^"]+)"\s*,\s*"?revision"?\s*:/g)].map((m) => m[1] as string);
}

beforeAll(async () => {
  await mkdir(PROBE, { recursive: true });
  await writeFile(
    join(PROBE, 'index.html'),
    '<!doctype html><html><head><title>probe</title></head><body><script type="module" src="./main.ts"></script></body></html>',
  );
  await writeFile(
    join(PROBE, 'main.ts'),
    "new Worker(new URL('./engine.ts', import.meta.url), { type: 'module' });\n",
  );
  await writeFile(
    join(PROBE, 'engine.ts'),
    "import * as ort from 'onnxruntime-web';\nexport const session = ort.InferenceSession.create(new Uint8Array(0));\n",
  );
  await build({
    root: PROBE,
    configFile: false,
    logLevel: 'error',
    base: './',
    plugins: [VitePWA({ ...structuredClone(pwaOptions), manifest: false })],
    worker: { format: 'es' },
    build: { outDir: OUT, emptyOutDir: true, target: 'es2022' },
  });
}, 120_000);

afterAll(() => rm(PROBE, { recursive: true, force: true }));

describe('service worker precache with onnxruntime-web in the build', () => {
  it('precaches every emitted file, the ORT wasm included', async () => {
    const emitted = (await walk(OUT))
      .map((f) => relative(OUT, f).split(sep).join('/'))
      .filter((p) => !p.endsWith('.map') && p !== 'sw.js' && !/^workbox-[\w-]+\.js$/.test(p));
    const wasm = emitted.filter((p) => p.endsWith('.wasm'));
    expect(wasm.length, 'the build emits an ORT wasm').toBeGreaterThan(0);
    const urls = precacheUrls(await readFile(join(OUT, 'sw.js'), 'utf8'));
    expect([...new Set(urls)].sort()).toEqual(emitted.sort());
    for (const w of wasm) expect((await stat(join(OUT, w))).size).toBeLessThan(MAX_PRECACHE_BYTES);
  });

  it('the size limit is above every wasm onnxruntime-web ships (whichever build a bundler picks)', async () => {
    const files = (await readdir(ORT_DIST)).filter((f) => f.endsWith('.wasm'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect((await stat(join(ORT_DIST, f))).size, f).toBeLessThan(MAX_PRECACHE_BYTES);
  });

  it('caches nothing at run time: Hub requests are never answered by the service worker', async () => {
    const sw = await readFile(join(OUT, 'sw.js'), 'utf8');
    // One route only: navigations answered with the precached index.html.
    expect(sw.match(/registerRoute\(/g)).toHaveLength(1);
    expect(sw).toContain('NavigationRoute');
    expect(pwaOptions.workbox?.runtimeCaching ?? []).toEqual([]);
  });
});
