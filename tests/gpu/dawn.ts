/**
 * A WebGPU device in Node through npm `webgpu` (Dawn). vitest.gpu.config.ts points Dawn at
 * SwiftShader where no GPU exists. A missing adapter is a failure with a fix, never a skip.
 * The device comes from the app's own `createDevice`, so tests run with the same limits and
 * error wiring; uncaptured GPU errors are collected in `uncapturedErrors` (and printed).
 */
import { create, globals } from 'webgpu';
import { createDevice } from '../../src/core/gpu/device.ts';
import type { LorafuseError } from '../../src/errors.ts';

let cached: Promise<GPUDevice> | undefined;

/** Every GPU error of the test device that no error scope caught. Tests may assert it is empty. */
export const uncapturedErrors: LorafuseError[] = [];

/**
 * Every GPU instance made here stays referenced: when the garbage collector frees a Dawn instance
 * whose device is still in use, the process aborts (mutex/futex errors, SIGSEGV) at a random later
 * call, typically after a test has allocated enough JS memory to trigger a GC.
 */
const liveInstances: GPU[] = [];

export function nodeGpu(): GPU {
  Object.assign(globalThis, globals);
  const gpu = create([]) as unknown as GPU;
  liveInstances.push(gpu);
  return gpu;
}

export function getTestDevice(): Promise<GPUDevice> {
  cached ??= (async () => {
    try {
      const { device } = await createDevice(nodeGpu(), {
        label: 'test',
        onUncapturedError: (e) => {
          uncapturedErrors.push(e);
          console.error(e.message);
        },
      });
      return device;
    } catch (e) {
      throw new Error(
        'Dawn found no usable WebGPU adapter. Check VK_ICD_FILENAMES / LD_LIBRARY_PATH (set by ' +
          'vitest.gpu.config.ts from scripts/swiftshader.ts) and that `npm ci` installed @sparticuz/chromium.',
        { cause: e },
      );
    }
  })();
  return cached;
}

/** Shared with the browser kernel page (tests/gpu/shared/). */
export { readBuffer } from './shared/kernel-case.ts';
