/**
 * nonfinite-check: planted NaN/Inf found and counted, the first index reported, f32 and packed
 * f16 (never the padding half of an odd count), and `assertFinite`'s error. Shared by
 * nonfinite-check.test.ts and the browser page.
 */
import { packF16 } from '../../../src/core/gpu/f16.ts';
import {
  assertFinite,
  countNonfinite,
} from '../../../src/core/gpu/kernels/nonfinite-check/nonfinite-check.ts';
import { createStorageBuffer } from '../../../src/core/gpu/storage-buffer.ts';
import { LorafuseError } from '../../../src/errors.ts';
import { check, checkEqual, checkRejects } from './check.ts';
import type { KernelSuite } from './kernel-case.ts';

// More elements than one launch has threads (1024 workgroups x 256), so the grid-stride loop runs.
const N = 300_001;

function finiteData(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 100);
}

export const NONFINITE_CHECK_SUITES: KernelSuite[] = [
  {
    name: 'nonfinite-check',
    cases: [
      {
        name: 'finds a planted NaN and Inf in f32 and reports the first index',
        async run(device) {
          const data = finiteData(N);
          data[290_000] = Number.NaN;
          data[123_457] = Number.NEGATIVE_INFINITY;
          data[200_000] = Number.POSITIVE_INFINITY;
          const buf = createStorageBuffer(device, { label: 'nf-f32', data });
          const got = await countNonfinite(device, { module: 'test.f32', dtype: 'f32', count: N, data: buf });
          checkEqual(got, { nan: 1, inf: 2, firstIndex: 123_457 }, 'f32 counts');
          buf.destroy();
        },
      },
      {
        name: 'reports an all-finite buffer as clean (f32 max and subnormals included)',
        async run(device) {
          const data = finiteData(1000);
          data[3] = 3.4028234663852886e38;
          data[4] = -1e-45;
          const buf = createStorageBuffer(device, { label: 'nf-clean', data });
          const got = await countNonfinite(device, {
            module: 'test.clean',
            dtype: 'f32',
            count: 1000,
            data: buf,
          });
          checkEqual(got, { nan: 0, inf: 0, firstIndex: null }, 'clean counts');
          buf.destroy();
        },
      },
      {
        name: 'checks packed f16 halves, and never the padding half of an odd count',
        async run(device) {
          const values = Array.from(finiteData(N));
          values[77_777] = Number.NaN; // odd index: a high half
          values[100_000] = 70_000; // beyond f16 range: packs to +Inf
          values[5] = 65_504; // the largest finite f16
          const words = packF16(values);
          // Plant an Inf (0x7c00) in the padding half of the last word: not an element, not counted.
          words[words.length - 1]! |= 0x7c00 << 16;
          const buf = createStorageBuffer(device, { label: 'nf-f16', data: words });
          const got = await countNonfinite(device, { module: 'test.f16', dtype: 'f16', count: N, data: buf });
          checkEqual(got, { nan: 1, inf: 1, firstIndex: 77_777 }, 'f16 counts');
          buf.destroy();
        },
      },
      {
        name: 'assertFinite refuses a bad buffer naming the module',
        async run(device) {
          const data = finiteData(10);
          data[7] = Number.NaN;
          const buf = createStorageBuffer(device, { label: 'nf-assert', data });
          const module = 'unet.mid_block.attentions.0.proj_in';
          const err = await checkRejects(
            assertFinite(device, { module, dtype: 'f32', count: 10, data: buf }),
            { code: 'lora-nonfinite' },
            'assertFinite on a NaN',
          );
          check(err instanceof LorafuseError, `assertFinite threw ${String(err)}, not a LorafuseError`);
          check(err.message.includes(module), `the message '${err.message}' does not name ${module}`);
          const details = err.details as Record<string, unknown>;
          checkEqual(
            { module: details.module, nan: details.nan, inf: details.inf, firstIndex: details.firstIndex },
            { module, nan: 1, inf: 0, firstIndex: 7 },
            'error details',
          );
          // The first 7 elements are finite.
          checkEqual(
            await assertFinite(device, { module, dtype: 'f32', count: 7, data: buf }),
            undefined,
            'assertFinite on the finite prefix',
          );
          buf.destroy();
        },
      },
    ],
  },
];
