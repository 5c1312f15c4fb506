import { expect, it } from 'vitest';
import { copyWords } from '../../src/core/gpu/kernels/copy/copy.ts';
import { createStorageBuffer } from '../../src/core/gpu/storage-buffer.ts';
import { getTestDevice, readBuffer } from './dawn.ts';

it('copy moves every word and nothing past `words`', async () => {
  const device = await getTestDevice();
  const words = 100_003;
  const src = createStorageBuffer(device, {
    label: 'copy-src',
    data: Uint32Array.from({ length: words + 5 }, (_, i) => (i * 2654435761) >>> 0),
  });
  const dst = createStorageBuffer(device, { label: 'copy-dst', data: new Uint32Array(words + 5).fill(7) });
  await copyWords(device, { module: 'test', words, src, dst });
  const got = new Uint32Array(await readBuffer(device, dst));
  const want = Uint32Array.from({ length: words + 5 }, (_, i) => (i < words ? (i * 2654435761) >>> 0 : 7));
  expect(got).toEqual(want);
});
