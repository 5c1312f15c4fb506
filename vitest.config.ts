import { defineConfig } from 'vitest/config';

/** Unit and numeric tests: Node, no GPU. */
export default defineConfig({
  test: {
    include: ['tests/unit/**/*.test.ts', 'tests/numeric/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    setupFiles: ['tests/fast-check-seed.ts'],
  },
});
