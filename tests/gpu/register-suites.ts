/**
 * Registers shared kernel suites (tests/gpu/shared/) as vitest tests on Dawn's device, and the
 * check that the device saw no uncaptured GPU error. The same suites run in Chromium through
 * tests/e2e/kernels-webgpu.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { getTestDevice, uncapturedErrors } from './dawn.ts';
import type { KernelSuite } from './shared/kernel-case.ts';

export function registerSuites(suites: readonly KernelSuite[]): void {
  for (const suite of suites) {
    describe(suite.name, () => {
      for (const c of suite.cases) it(c.name, async () => c.run(await getTestDevice()));
    });
  }
  it('left no uncaptured GPU error', () => {
    expect(uncapturedErrors.map((e) => e.message)).toEqual([]);
  });
}
