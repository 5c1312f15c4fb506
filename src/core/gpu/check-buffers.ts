/** Size checks of a launch's buffers, so that a short buffer fails with names instead of a GPU validation error. */
import { LorafuseError } from '../../errors.ts';

/** [binding name, buffer, bytes the launch reads or writes]. */
export type BufferNeed = readonly [name: string, buffer: GPUBuffer, bytes: number];

/** Throws `invalid-argument` naming the first buffer smaller than the launch needs. */
export function checkBuffers(
  kernel: string,
  module: string,
  what: string,
  needs: readonly BufferNeed[],
): void {
  for (const [name, buffer, bytes] of needs) {
    if (buffer.size < bytes) {
      throw new LorafuseError(
        'invalid-argument',
        `${kernel} on ${module}: buffer "${name}" (${buffer.label || 'unlabelled'}) holds ${buffer.size} ` +
          `bytes, needs ${bytes} for ${what}.`,
        { kernel, module, buffer: name, size: buffer.size, needed: bytes },
      );
    }
  }
}
