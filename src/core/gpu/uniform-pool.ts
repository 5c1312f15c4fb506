/**
 * The small uniform buffers `launch` writes a kernel's `Params` into, pooled per device so that a
 * merge of thousands of modules does not create (and leave to the garbage collector) thousands of
 * 16-byte buffers.
 *
 * A buffer is taken for one launch and written with `queue.writeBuffer`. Queue operations run in
 * order, so once the work that reads a buffer is *submitted*, a later `writeBuffer` to it cannot
 * change what that work sees: the buffer may go back to the pool right after the submit.
 * - A launch that submits its own encoder returns its buffer right after that submit.
 * - A launch into a caller's encoder holds its buffer with that encoder (each pending launch has
 *   its own) until the caller submits it with `submitEncoders`. An encoder submitted some other
 *   way, or dropped, leaves its buffers to the garbage collector.
 */

/** Free buffers kept per (device, size) beyond which returned buffers are destroyed. */
const MAX_FREE = 1024;

class UniformPool {
  readonly #device: GPUDevice;
  readonly #free = new Map<number, GPUBuffer[]>();
  readonly #held = new WeakMap<GPUCommandEncoder, GPUBuffer[]>();
  /** Buffers this pool has created (tests check it stays bounded). */
  created = 0;

  constructor(device: GPUDevice) {
    this.#device = device;
  }

  /** A buffer of `bytes.byteLength` bytes holding `bytes` (in queue order), labelled `label`. */
  take(bytes: ArrayBuffer, label: string): GPUBuffer {
    const size = bytes.byteLength;
    let buffer = this.#free.get(size)?.pop();
    if (!buffer) {
      buffer = this.#device.createBuffer({
        label: `${label}:params`,
        size,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      });
      this.created++;
    } else {
      buffer.label = `${label}:params`;
    }
    this.#device.queue.writeBuffer(buffer, 0, bytes);
    return buffer;
  }

  /** Keeps `buffer` out of the pool until `encoder` is submitted through `submitEncoders`. */
  hold(encoder: GPUCommandEncoder, buffer: GPUBuffer): void {
    const list = this.#held.get(encoder);
    if (list) list.push(buffer);
    else this.#held.set(encoder, [buffer]);
  }

  /** Back to the pool: only once the work reading it has been submitted. */
  give(buffer: GPUBuffer): void {
    const list = this.#free.get(buffer.size) ?? [];
    this.#free.set(buffer.size, list);
    if (list.length < MAX_FREE) list.push(buffer);
    else buffer.destroy();
  }

  /** Gives back what `encoder`'s launches held; call after it was submitted. */
  release(encoder: GPUCommandEncoder): void {
    const list = this.#held.get(encoder);
    if (!list) return;
    this.#held.delete(encoder);
    for (const b of list) this.give(b);
  }
}

const pools = new WeakMap<GPUDevice, UniformPool>();

export function uniformPoolFor(device: GPUDevice): UniformPool {
  let pool = pools.get(device);
  if (!pool) {
    pool = new UniformPool(device);
    pools.set(device, pool);
  }
  return pool;
}

export type { UniformPool };

/**
 * Finishes and submits encoders that `launch` encoded into, in order, in one `queue.submit`, then
 * returns their params buffers to the pool. Use it instead of `queue.submit([e.finish()])` for an
 * encoder given to `launch`.
 */
export function submitEncoders(device: GPUDevice, encoders: readonly GPUCommandEncoder[]): void {
  device.queue.submit(encoders.map((e) => e.finish({ label: e.label })));
  const pool = uniformPoolFor(device);
  for (const e of encoders) pool.release(e);
}
