/**
 * The offline PWA, end to end: the built app from a sub-path, its service worker precaching the whole
 * build, and Lighthouse's installability criteria (a manifest Chromium parses without errors, with a
 * name, standalone display, 192 and 512 PNG icons and a maskable one; a service worker that controls
 * start_url and serves it with the network off). Then the static server is really stopped and the
 * page reloaded: the app still renders, from the service worker. With the local Hub stopped too, a repo listed once lists again from the engine's Hub cache
 * (`main` resolved from the cached ref), and a repo never listed fails with `hub-network`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppFixture, listFiles, startAppFixture } from './app-fixture.ts';
import { type PageProblem, screenshot } from './browser.ts';
import { DIST_DIR } from './global-setup.ts';

const CACHED_REPO = 'fixtures/tiny-sd15';
/** Served by the local Hub, but never listed in this test: offline it cannot come from anywhere. */
const NEVER_CACHED_REPO = 'fixtures/tiny-sdxl';
const APP_CSS = fileURLToPath(new URL('../../src/app/app.css', import.meta.url));
const TINY_SD15_DIR = fileURLToPath(new URL('../fixtures/models/tiny-sd15', import.meta.url));

/** Files the service worker must precache: the whole build, less source maps and its own scripts. */
function expectedPrecache(dir: string): string[] {
  return listFiles(dir).filter(
    (p) => !p.endsWith('.map') && p !== 'sw.js' && !/^workbox-[\w-]+\.js$/.test(p),
  );
}

/** The dark theme's background, `--bg` in app.css: the manifest's colours must match it. */
function themeBackground(): string {
  const m = /--bg:\s*(#[0-9a-fA-F]{6})/.exec(readFileSync(APP_CSS, 'utf8'));
  if (!m?.[1]) throw new Error(`no --bg colour in ${APP_CSS}`);
  return m[1].toLowerCase();
}

/** Resolves once a service worker controls the page; returns its script URL and scope. */
function serviceWorkerControl(page: Page): Promise<{ script: string; scope: string }> {
  return page.evaluate(async () => {
    const registration = await navigator.serviceWorker.ready;
    if (!navigator.serviceWorker.controller) {
      await new Promise((ok) =>
        navigator.serviceWorker.addEventListener('controllerchange', ok, { once: true }),
      );
    }
    return { script: navigator.serviceWorker.controller?.scriptURL ?? '', scope: registration.scope };
  });
}

/** Lists `repo` in the Model panel; an error shown instead of the table fails with its text. */
async function fileRows(page: Page, repo: string): Promise<Array<{ path: string; bytes: string | null }>> {
  await page.getByLabel('Model repository').fill(repo);
  await page.getByRole('button', { name: 'List files' }).click();
  const table = page.getByRole('table', { name: `Files of ${repo}` });
  const alert = page.getByRole('alert');
  await table.or(alert).first().waitFor({ timeout: 60_000 });
  if (await alert.isVisible())
    throw new Error(`listing ${repo} showed an error: ${await alert.textContent()}`);
  return table.locator('tbody tr').evaluateAll((trs) =>
    trs.map((tr) => ({
      path: tr.querySelector('td')?.textContent ?? '',
      bytes: tr.querySelector('data')?.getAttribute('value') ?? null,
    })),
  );
}

/** Whether anything answers at `url` (a closed server refuses the connection). */
async function answers(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(5_000) });
    return true;
  } catch {
    return false;
  }
}

let fixture: AppFixture | undefined;
let hubUrl: string;
let appUrl: string;
let page: Page;
let problems: PageProblem[];
let onlineRows: Array<{ path: string; bytes: string | null }>;

beforeAll(async () => {
  fixture = await startAppFixture('/app/sub/');
  hubUrl = fixture.hub.url.replace(/\/$/, '');
  appUrl = fixture.app.url;
  ({ page, problems } = fixture);
});

afterAll(async () => {
  await fixture?.close();
});

describe('offline PWA (built app from a sub-path, Chromium)', () => {
  it('registers a service worker in the sub-path that precaches the whole build and controls the page', async () => {
    await page.goto(`${appUrl}?hub=${encodeURIComponent(hubUrl)}`);
    const sw = await serviceWorkerControl(page);
    expect(sw.script).toBe(`${appUrl}sw.js`);
    expect(sw.scope).toBe(appUrl);

    const precached = await page.evaluate(async () => {
      const name = (await caches.keys()).find((n) => n.startsWith('workbox-precache'));
      if (!name) return [];
      const keys = await (await caches.open(name)).keys();
      return keys.map((r) => {
        const u = new URL(r.url);
        u.searchParams.delete('__WB_REVISION__');
        return u.href;
      });
    });
    const expected = expectedPrecache(DIST_DIR);
    expect(expected).toContain('index.html');
    expect(expected.some((p) => /^assets\/diffusion\.worker-.*\.js$/.test(p))).toBe(true);
    expect([...new Set(precached)].sort()).toEqual(expected.map((p) => `${appUrl}${p}`).sort());

    await page
      .getByRole('status')
      .getByText(/installed for offline use/)
      .waitFor({ timeout: 30_000 });
  });

  it('links a manifest that Chromium parses without errors: standalone, 192, 512 and maskable PNG icons', async () => {
    const href = await page.locator('link[rel="manifest"]').getAttribute('href', { timeout: 5_000 });
    expect(href).toBeTruthy();
    const manifestUrl = new URL(href ?? '', appUrl).href;
    const res = await fetch(manifestUrl);
    expect(res.status).toBe(200);
    const manifest = (await res.json()) as {
      name: string;
      short_name: string;
      display: string;
      start_url: string;
      scope: string;
      theme_color: string;
      background_color: string;
      icons: Array<{ src: string; sizes: string; type: string; purpose?: string }>;
    };
    expect(manifest.name).toMatch(/lorafuse/);
    expect(manifest.short_name).toBe('lorafuse');
    expect(manifest.display).toBe('standalone');
    expect(new URL(manifest.start_url, manifestUrl).href).toBe(appUrl);
    expect(new URL(manifest.scope, manifestUrl).href).toBe(appUrl);
    expect(manifest.theme_color.toLowerCase()).toBe(themeBackground());
    expect(manifest.background_color.toLowerCase()).toBe(themeBackground());
    expect(await page.locator('meta[name="theme-color"]').getAttribute('content')).toBe(manifest.theme_color);

    // Each icon decoded by Chromium itself (through the service worker), its size as declared.
    const icons = await page.evaluate(
      async (list) =>
        Promise.all(
          list.map(async (icon) => {
            const r = await fetch(icon.url);
            const bitmap = await createImageBitmap(await r.blob());
            return {
              ...icon,
              status: r.status,
              type: r.headers.get('content-type'),
              w: bitmap.width,
              h: bitmap.height,
            };
          }),
        ),
      manifest.icons.map((i) => ({
        url: new URL(i.src, manifestUrl).href,
        sizes: i.sizes,
        purpose: i.purpose ?? 'any',
      })),
    );
    for (const icon of icons) {
      expect(icon.status, icon.url).toBe(200);
      expect(icon.type, icon.url).toBe('image/png');
      expect(`${icon.w}x${icon.h}`, icon.url).toBe(icon.sizes);
    }
    const has = (sizes: string, purpose: string) =>
      icons.some((i) => i.sizes === sizes && i.purpose.split(' ').includes(purpose));
    expect(has('192x192', 'any')).toBe(true);
    expect(has('512x512', 'any')).toBe(true);
    expect(has('512x512', 'maskable')).toBe(true);

    // The manifest as Chromium itself parsed it. (Page.getInstallabilityErrors would be the direct
    // check, but this headless build answers [] even for about:blank, so it proves nothing here.)
    const cdp = await page.context().newCDPSession(page);
    const parsed = (await cdp.send('Page.getAppManifest')) as {
      url: string;
      errors: unknown[];
      manifest: {
        display: string;
        startUrl: string;
        scope: string;
        id: string;
        icons: Array<{ url: string }>;
      };
    };
    await cdp.detach();
    expect(parsed.url).toBe(manifestUrl);
    expect(parsed.errors).toEqual([]);
    expect(parsed.manifest.display).toBe('kStandalone');
    expect(parsed.manifest.startUrl).toBe(appUrl);
    expect(parsed.manifest.scope).toBe(appUrl);
    // The app's identity is its sub-path, so two deployments on one origin install as two apps.
    expect(parsed.manifest.id).toBe(appUrl);
    expect(parsed.manifest.icons.map((i) => i.url).sort()).toEqual(icons.map((i) => i.url).sort());
  });

  it(`lists ${CACHED_REPO} while the Hub is up (this fills the engine's Hub cache)`, async () => {
    onlineRows = await fileRows(page, CACHED_REPO);
    expect(onlineRows.filter((r) => r.bytes !== null).length).toBeGreaterThan(5);
    expect(onlineRows.some((r) => r.path === 'unet/diffusion_pytorch_model.safetensors')).toBe(true);
  });

  it('leaves Hub requests to the network: a ranged read from the controlled page gets its 206', async () => {
    const path = 'unet/diffusion_pytorch_model.safetensors';
    const expected = [...readFileSync(join(TINY_SD15_DIR, path)).subarray(8, 24)];
    const got = await page.evaluate(async (url) => {
      const r = await fetch(url, { headers: { Range: 'bytes=8-23' } });
      return {
        status: r.status,
        range: r.headers.get('content-range'),
        bytes: [...new Uint8Array(await r.arrayBuffer())],
      };
    }, `${hubUrl}/${CACHED_REPO}/resolve/main/${path}`);
    expect(got.status).toBe(206);
    expect(got.range).toMatch(/^bytes 8-23\//);
    expect(got.bytes).toEqual(expected);
    // The only caches: Workbox's precache and the engine's own Hub cache; no runtime cache of the SW.
    const names = await page.evaluate(() => caches.keys());
    expect(names.filter((n) => !n.startsWith('workbox-precache')).sort()).toEqual(['lorafuse-hub-v1']);
  });

  it('with the static server stopped, a reload renders the app from the service worker', async () => {
    await fixture?.stopApp();
    expect(await answers(appUrl)).toBe(false);

    // start_url itself (an installed app opens it), then the page as it was (with ?hub=).
    await page.goto(appUrl);
    await page.getByRole('heading', { name: 'lorafuse', level: 1 }).waitFor({ timeout: 60_000 });
    await page.goBack();
    await page.reload();
    await page.getByRole('heading', { name: 'lorafuse', level: 1 }).waitFor({ timeout: 60_000 });
    const status = page.getByRole('region', { name: 'WebGPU status' });
    await status.getByText('WebGPU', { exact: true }).waitFor({ timeout: 60_000 });
    expect(await status.textContent()).toMatch(/swiftshader/i);
    // The precached responses keep the server's COOP/COEP headers: still cross-origin isolated.
    expect(await page.evaluate(() => globalThis.crossOriginIsolated)).toBe(true);
    expect(await page.getByLabel('Hub URL').inputValue()).toBe(hubUrl);
    await screenshot(page, 'pwa-offline-1-app');
  });

  it(`with the Hub stopped too, ${CACHED_REPO} lists from the cache and a never-listed repo is hub-network`, async () => {
    await fixture?.stopHub();
    expect(await answers(hubUrl)).toBe(false);

    expect(await fileRows(page, CACHED_REPO)).toEqual(onlineRows);
    expect(await page.getByRole('alert').count()).toBe(0);
    await screenshot(page, 'pwa-offline-2-cached-listing');

    await page.getByLabel('Model repository').fill(NEVER_CACHED_REPO);
    await page.getByRole('button', { name: 'List files' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor({ timeout: 60_000 });
    const text = await alert.textContent();
    expect(text).toContain('hub-network');
    expect(text).toContain(NEVER_CACHED_REPO);
    expect(await page.getByRole('table').count()).toBe(0);
    await screenshot(page, 'pwa-offline-3-never-cached');
    await page.getByRole('button', { name: 'Dismiss error' }).click();
  });

  it("shows this origin's storage (usage, quota, persistence) as the browser reports it", async () => {
    const line = page.getByLabel('Storage');
    await line.waitFor({ timeout: 30_000 });
    const truth = await page.evaluate(async () => ({
      ...(await navigator.storage.estimate()),
      persisted: await navigator.storage.persisted(),
    }));
    const [usage, quota] = await line
      .locator('data')
      .evaluateAll((ds) => ds.map((d) => Number(d.getAttribute('value'))));
    expect(quota).toBe(truth.quota);
    // Usage moves as caches settle; the precache alone is over 100 kB.
    expect(usage).toBeGreaterThan(100_000);
    expect(usage).toBeLessThanOrEqual(quota ?? 0);
    expect(await line.textContent()).toMatch(/of Hub files cached/);
    expect(await line.textContent()).toContain(truth.persisted ? 'persistent' : 'may be evicted');

    // "Keep offline data" asks from the page (persist() is not exposed to the engine's worker);
    // whatever the browser answers, the line then says what persisted() reports.
    if (!truth.persisted) {
      await line.getByRole('button', { name: 'Keep offline data' }).click();
      await expect
        .poll(async () => {
          const now = await page.evaluate(() => navigator.storage.persisted());
          return (await line.textContent())?.includes(now ? 'persistent' : 'may be evicted');
        })
        .toBe(true);
      expect(await page.getByRole('alert').count()).toBe(0);
    }
  });

  it('logged no errors other than the refused connections to the stopped servers', () => {
    const unexpected = problems.filter(
      (p) =>
        !(
          p.kind === 'console' &&
          /net::ERR_CONNECTION_REFUSED|net::ERR_FAILED/.test(p.text) &&
          (p.url.startsWith(appUrl) || p.url.startsWith(hubUrl))
        ),
    );
    expect(unexpected).toEqual([]);
  });
});
