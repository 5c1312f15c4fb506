import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin } from 'vite';
import { VitePWA, type VitePWAOptions } from 'vite-plugin-pwa';

/** The dark theme of src/app/app.css (--bg); the icons (scripts/make-icons.ts) use it too. */
const THEME_COLOR = '#0b0f19';

/**
 * Workbox will not precache bigger files (vite-plugin-pwa 2 then fails the build), so this stays
 * above the biggest wasm the build emits: onnxruntime-web 1.30's JSEP (WebGPU) build,
 * `ort-wasm-simd-threaded.jsep.wasm`, is 28.3 MB. tests/unit/pwa-precache.test.ts checks it
 * against every wasm onnxruntime-web ships, and builds an app with ORT to see the wasm precached.
 */
export const MAX_PRECACHE_BYTES = 64 * 1024 * 1024;

/**
 * Offline PWA. The service worker precaches the app shell, the engine worker's chunk and every
 * wasm/mjs asset (onnxruntime-web's runtime), and serves index.html for navigations. It caches
 * nothing at run time: Hub requests (listings, ranged weight reads) go to the network untouched,
 * and the engine keeps model files itself in Cache Storage (`lorafuse-hub-v1`, src/core/io/hub/cache.ts).
 * Paths are relative (`base: './'`), so the app, its scope and its start_url work from any sub-path.
 */
export const pwaOptions: Partial<VitePWAOptions> = {
  registerType: 'prompt',
  // src/app/pwa.ts registers through `virtual:pwa-register` and shows the update prompt.
  injectRegister: false,
  // `globPatterns` below already takes every icon from public/ (copied into dist/).
  includeManifestIcons: false,
  manifest: {
    name: 'lorafuse: Stable Diffusion with live LoRA',
    short_name: 'lorafuse',
    description: 'Stable Diffusion with live LoRA adapters, on your own GPU, in the browser.',
    start_url: './',
    scope: './',
    display: 'standalone',
    theme_color: THEME_COLOR,
    background_color: THEME_COLOR,
    icons: [
      { src: 'pwa-192x192.png', sizes: '192x192', type: 'image/png', purpose: 'any' },
      { src: 'pwa-512x512.png', sizes: '512x512', type: 'image/png', purpose: 'any' },
      { src: 'maskable-icon-512x512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
    ],
  },
  workbox: {
    globPatterns: ['**/*.{html,js,mjs,css,wasm,svg,png,ico}'],
    maximumFileSizeToCacheInBytes: MAX_PRECACHE_BYTES,
    navigateFallback: 'index.html',
    // The first visit is controlled at once, so everything the page fetches later comes from the precache.
    clientsClaim: true,
    cleanupOutdatedCaches: true,
    runtimeCaching: [],
  },
};

/** Head tags for installability that the PWA plugin does not write: theme colour, SVG favicon, Apple icon. */
function pwaHeadTags(): Plugin {
  return {
    name: 'lorafuse-pwa-head',
    transformIndexHtml: () => [
      { tag: 'meta', attrs: { name: 'theme-color', content: THEME_COLOR }, injectTo: 'head' },
      { tag: 'link', attrs: { rel: 'icon', href: './favicon.svg', type: 'image/svg+xml' }, injectTo: 'head' },
      {
        tag: 'link',
        attrs: { rel: 'apple-touch-icon', href: './apple-touch-icon-180x180.png' },
        injectTo: 'head',
      },
    ],
  };
}

/**
 * onnxruntime-web in a chunk of its own (app and worker builds): its wasm threads start workers from
 * the URL of the module holding ORT (`import.meta.url`), which must not be a chunk that also runs
 * the engine or the app. With ORT bundled into the page's chunk, a cross-origin-isolated page with
 * `numThreads > 1` crashed ("document is not defined" in the pthread workers; tests/browser/build-page.ts).
 */
const ORT_CHUNK = { name: 'onnxruntime-web', test: /[\\/]node_modules[\\/]onnxruntime-web[\\/]/ };

/**
 * The app is static: `base: './'` makes `dist/` work from any host and any sub-path.
 * `LORAFUSE_HUB_URL` (e.g. the local fixture hub of `npm run dev:offline`) becomes the default Hub URL.
 */
export default defineConfig({
  base: './',
  plugins: [react(), VitePWA(pwaOptions), pwaHeadTags()],
  define: {
    __LORAFUSE_HUB_URL__: JSON.stringify(process.env.LORAFUSE_HUB_URL ?? 'https://huggingface.co'),
  },
  worker: { format: 'es', rolldownOptions: { output: { codeSplitting: { groups: [ORT_CHUNK] } } } },
  build: {
    target: 'es2022',
    sourcemap: true,
    chunkSizeWarningLimit: 4096,
    rolldownOptions: { output: { codeSplitting: { groups: [ORT_CHUNK] } } },
  },
  optimizeDeps: { exclude: ['onnxruntime-web'] },
});
