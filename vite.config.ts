import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/**
 * The app is static: `base: './'` makes `dist/` work from any host and any sub-path.
 * `LORAFUSE_HUB_URL` (e.g. the local fixture hub of `npm run dev:offline`) becomes the default Hub URL.
 */
export default defineConfig({
  base: './',
  plugins: [react()],
  define: {
    __LORAFUSE_HUB_URL__: JSON.stringify(process.env.LORAFUSE_HUB_URL ?? 'https://huggingface.co'),
  },
  worker: { format: 'es' },
  build: { target: 'es2022', sourcemap: true, chunkSizeWarningLimit: 4096 },
  optimizeDeps: { exclude: ['onnxruntime-web'] },
});
