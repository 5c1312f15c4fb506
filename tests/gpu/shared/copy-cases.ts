/** The copy kernel: every word moved, nothing past `words` touched. Shared by copy.test.ts and the browser page. */
import { copyWords } from '../../../src/core/gpu/kernels/copy/copy.ts';
import { createStorageBuffer } from '../../../src/core/gpu/storage-buffer.ts';
import { checkEqual } from './check.ts';
import { type KernelSuite, readBuffer } from './kernel-case.ts';

export const COPY_SUITES: KernelSuite[] = [
  {
    name: 'copy',
    cases: [
      {
        name: 'copy moves every word and nothing past `words`',
        async run(device) {
          const words = 100_003;
          const pattern = (i: number) => (i * 2654435761) >>> 0;
          const src = createStorageBuffer(device, {
            label: 'copy-src',
            data: Uint32Array.from({ length: words + 5 }, (_, i) => pattern(i)),
          });
          const dst = createStorageBuffer(device, {
            label: 'copy-dst',
            data: new Uint32Array(words + 5).fill(7),
          });
          await copyWords(device, { module: 'test', words, src, dst });
          const got = new Uint32Array(await readBuffer(device, dst));
          const bad: number[] = [];
          for (let i = 0; i < words + 5; i++) {
            if (got[i] !== (i < words ? pattern(i) : 7)) bad.push(i);
          }
          checkEqual(bad.slice(0, 10), [], `copy: ${bad.length} wrong words (first indices shown)`);
          src.destroy();
          dst.destroy();
        },
      },
    ],
  },
];
