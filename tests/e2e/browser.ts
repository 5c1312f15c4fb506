/**
 * Chromium for the e2e tests: the build from `@sparticuz/chromium` (LORAFUSE_CHROMIUM, set by
 * vitest.e2e.config.ts), WebGPU on SwiftShader. Pages collect console errors so a test can fail
 * on any it did not expect, and take screenshots into test-results/.
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sparticuz from '@sparticuz/chromium';
import { type Browser, type ConsoleMessage, chromium, type Page } from 'playwright-core';

export const RESULTS_DIR = fileURLToPath(new URL('../../test-results/e2e', import.meta.url));

/**
 * Args @sparticuz/chromium uses that the tests must not: `--headless=...` (playwright sets it) and
 * `--disable-web-security`, which would hide CORS failures against the Hub and turn off cross-origin
 * isolation (COOP/COEP), so the tests would pass where a real browser fails.
 */
const DROPPED_ARGS = [/^--headless/, /^--disable-web-security$/];

/**
 * Chromium's args: @sparticuz/chromium's (less DROPPED_ARGS), WebGPU, and no background traffic.
 * Without `--enable-unsafe-webgpu` this Chromium on Linux returns no adapter: the no-WebGPU path.
 */
export function chromiumArgs({ webgpu = true }: { webgpu?: boolean } = {}): string[] {
  return [
    ...sparticuz.args.filter((a) => !DROPPED_ARGS.some((re) => re.test(a))),
    ...(webgpu ? ['--enable-unsafe-webgpu'] : []),
    '--disable-background-networking',
    '--disable-component-update',
    '--no-first-run',
  ];
}

export async function launchBrowser(options: { webgpu?: boolean } = {}): Promise<Browser> {
  const executablePath = process.env.LORAFUSE_CHROMIUM;
  if (!executablePath) {
    throw new Error('LORAFUSE_CHROMIUM is not set: run the e2e tests with `-c vitest.e2e.config.ts`.');
  }
  return chromium.launch({ executablePath, headless: true, args: chromiumArgs(options) });
}

export interface PageProblem {
  kind: 'console' | 'pageerror' | 'crash';
  text: string;
  /** The resource or script the message is about, when Chromium says. */
  url: string;
}

/** A new page (own context, so storage starts empty) that records console errors and uncaught exceptions. */
export async function openPage(browser: Browser): Promise<{ page: Page; problems: PageProblem[] }> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  const page = await context.newPage();
  const problems: PageProblem[] = [];
  page.on('console', (m: ConsoleMessage) => {
    if (m.type() === 'error') problems.push({ kind: 'console', text: m.text(), url: m.location().url });
  });
  page.on('pageerror', (e) => problems.push({ kind: 'pageerror', text: `${e.name}: ${e.message}`, url: '' }));
  page.on('crash', () => problems.push({ kind: 'crash', text: 'the page crashed', url: '' }));
  return { page, problems };
}

/** Saves a full-page screenshot as test-results/e2e/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = resolve(RESULTS_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
