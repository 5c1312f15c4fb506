/**
 * The kernel test page: runs the kernel suites of tests/gpu/shared/ (the same cases and oracles
 * Node runs on Dawn) on a device from `navigator.gpu`, created by the app's own `createDevice`.
 * Nothing here judges results beyond the shared checks: tests/e2e/kernels-webgpu.test.ts does.
 */
import { createDevice } from '../../src/core/gpu/device.ts';
import { KERNEL_SUITES } from '../gpu/shared/suites.ts';
import type { KernelCaseResult, KernelsApi } from './kernels-api.ts';

let device: GPUDevice | null = null;
const uncaptured: string[] = [];

const api: KernelsApi = {
  async init() {
    const created = await createDevice(navigator.gpu, {
      label: 'lorafuse-kernels',
      onUncapturedError: (e) => uncaptured.push(e.message),
    });
    device = created.device;
    const a = created.status.adapter;
    return {
      adapter: `${a.vendor} ${a.architecture} ${a.description}`.trim(),
      shaderF16: device.features.has('shader-f16'),
    };
  },

  list() {
    return Object.fromEntries(KERNEL_SUITES.map((s) => [s.name, s.cases.map((c) => c.name)]));
  },

  async run(suiteName, names) {
    if (!device) throw new Error('call init() first');
    const suite = KERNEL_SUITES.find((s) => s.name === suiteName);
    if (!suite) throw new Error(`no kernel suite '${suiteName}'`);
    const chosen = names ? suite.cases.filter((c) => names.includes(c.name)) : suite.cases;
    if (names && chosen.length !== names.length) throw new Error(`unknown case in ${JSON.stringify(names)}`);
    const results: KernelCaseResult[] = [];
    for (const c of chosen) {
      const t0 = performance.now();
      let error: string | undefined;
      try {
        await c.run(device);
      } catch (e) {
        error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      }
      results.push({
        suite: suiteName,
        name: c.name,
        ms: performance.now() - t0,
        ...(error ? { error } : {}),
      });
    }
    return results;
  },

  uncaptured: () => [...uncaptured],
};

window.kernels = api;
document.getElementById('status')!.textContent = 'ready';
