import { defineConfig } from 'vitest/config';
import { prepareSwiftShaderEnv } from './scripts/swiftshader.ts';

/** Browser end-to-end tests: the built app in Chromium (WebGPU on SwiftShader) via playwright-core. */
await prepareSwiftShaderEnv();

export default defineConfig({
  test: {
    include: ['tests/e2e/**/*.test.ts'],
    environment: 'node',
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
    fileParallelism: false,
    globalSetup: ['tests/e2e/global-setup.ts'],
  },
});
