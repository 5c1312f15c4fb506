/**
 * Builds the numeric test page (tests/browser/numeric.html) with Vite exactly as the app is built
 * (relative base, es2022, onnxruntime-web's default bundle, whose wasm Vite emits as an asset from
 * `new URL(..., import.meta.url)`), into test-results/browser-numeric/, and links tests/fixtures
 * there as `fixtures/`, so that one static server (same origin) serves the page and the fixtures.
 */
import { existsSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const HERE = fileURLToPath(new URL('.', import.meta.url));
export const PAGE_OUT_DIR = fileURLToPath(new URL('../../test-results/browser-numeric', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../fixtures', import.meta.url));

/**
 * onnxruntime-web in a chunk of its own: its wasm threads start workers from the URL of the module
 * that holds ORT (`import.meta.url`), and those workers must not run the page's code too.
 */
export const ORT_CHUNK = { name: 'onnxruntime-web', test: /[\\/]node_modules[\\/]onnxruntime-web[\\/]/ };

export interface BuiltPage {
  dir: string;
  /** The wasm files the build emitted (onnxruntime-web's runtime). */
  wasm: string[];
  ms: number;
}

/** `html`: the page to build (a file in tests/browser/), default the numeric page. */
export async function buildNumericPage(outDir = PAGE_OUT_DIR, html = 'numeric.html'): Promise<BuiltPage> {
  const t0 = performance.now();
  await build({
    configFile: false,
    root: HERE,
    base: './',
    logLevel: 'warn',
    build: {
      outDir,
      emptyOutDir: true,
      target: 'es2022',
      sourcemap: false,
      chunkSizeWarningLimit: 4096,
      rolldownOptions: {
        input: join(HERE, html),
        output: { codeSplitting: { groups: [ORT_CHUNK] } },
      },
    },
  });
  const link = join(outDir, 'fixtures');
  if (!existsSync(link)) symlinkSync(FIXTURES, link, 'dir');
  const assets = join(outDir, 'assets');
  const wasm = readdirSync(assets).filter((f) => f.endsWith('.wasm'));
  return { dir: outDir, wasm, ms: performance.now() - t0 };
}
