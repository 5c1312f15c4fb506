/**
 * The shared setup of the app e2e tests: the local Hub, the built app served under a base path, and
 * one Chromium page that records console errors; plus the console-error filter and a file listing
 * the tests use as oracles.
 */
import { readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { type HubServer, startHubServer } from '../hub-server.ts';
import { launchBrowser, openPage, type PageProblem } from './browser.ts';
import { DIST_DIR } from './global-setup.ts';
import { type StaticServer, serveStatic } from './static-server.ts';

export interface AppFixture {
  hub: HubServer;
  app: StaticServer;
  browser: Browser;
  page: Page;
  problems: PageProblem[];
  /** Stops the static server (the page keeps running); later calls do nothing. */
  stopApp(): Promise<void>;
  /** Stops the local Hub; later calls do nothing. */
  stopHub(): Promise<void>;
  /** Closes the browser and whichever servers are still up. */
  close(): Promise<void>;
}

/** Starts the local Hub, serves the build under `basePath` and opens a page (nothing loaded yet). */
export async function startAppFixture(basePath: string): Promise<AppFixture> {
  let hub: HubServer | undefined;
  let app: StaticServer | undefined;
  let browser: Browser | undefined;
  const stopApp = async () => {
    const a = app;
    app = undefined;
    await a?.close();
  };
  const stopHub = async () => {
    const h = hub;
    hub = undefined;
    await h?.close();
  };
  const close = async () => {
    await browser?.close();
    await stopApp();
    await stopHub();
  };
  try {
    hub = await startHubServer();
    app = await serveStatic(DIST_DIR, basePath);
    browser = await launchBrowser();
    const { page, problems } = await openPage(browser);
    return { hub, app, browser, page, problems, stopApp, stopHub, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** The problems other than the console's 404 for a request about `missingRepo` (a test asks for it). */
export function problemsBut404For(problems: PageProblem[], missingRepo: string): PageProblem[] {
  return problems.filter(
    (p) =>
      !(
        p.kind === 'console' &&
        /Failed to load resource: the server responded with a status of 404/.test(p.text) &&
        p.url.includes(missingRepo)
      ),
  );
}

/** Every file under `dir`, as `/`-separated paths relative to `dir`. */
export function listFiles(dir: string): string[] {
  const walk = (d: string): string[] =>
    readdirSync(d, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(join(d, e.name)) : [relative(dir, join(d, e.name)).split(sep).join('/')],
    );
  return walk(dir);
}
