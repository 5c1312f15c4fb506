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

/** Throws `invalid-argument` when the written buffer is also bound for reading (WebGPU forbids it). */
export function checkNoAlias(
  kernel: string,
  module: string,
  written: readonly [string, GPUBuffer],
  read: readonly (readonly [string, GPUBuffer])[],
): void {
  for (const [name, buffer] of read) {
    if (buffer === written[1]) {
      throw new LorafuseError(
        'invalid-argument',
        `${kernel} on ${module}: "${written[0]}" and "${name}" must be different buffers.`,
        { kernel, module, written: written[0], read: name },
      );
    }
  }
}
