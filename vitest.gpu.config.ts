import { defineConfig } from 'vitest/config';
import { prepareSwiftShaderEnv } from './scripts/swiftshader.ts';

/**
 * GPU tests: Node with npm `webgpu` (Dawn). Where no real GPU exists, Dawn runs on SwiftShader;
 * the environment is set here, before the worker processes start, because the dynamic loader
 * reads LD_LIBRARY_PATH only at process start. A real Vulkan driver (VK_ICD_FILENAMES set by the
 * caller) takes precedence.
 */
await prepareSwiftShaderEnv();

export default defineConfig({
  test: {
    include: ['tests/gpu/**/*.test.ts'],
    environment: 'node',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
