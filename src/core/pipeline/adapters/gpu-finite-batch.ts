/**
 * The NaN/Inf check of many merged weights with one read-back (the GPU store checks every fused
 * and effective weight of a change): the nonfinite-check kernel per weight into that weight's own
 * persistent result buffer, one copy of all results into a shared read-back buffer, one map.
 * `assertFinite` (one map per weight) costs a queue round trip per module. Result buffers are
 * made once per module and slot and the read-back grows only when a change checks more weights
 * than any before, so repeated changes (hotswaps, slider moves) allocate nothing.
 */
import { LorafuseError } from '../../../errors.ts';
import { launch, submitEncoders } from '../../gpu/kernel.ts';
import { nonfiniteCheckKernel } from '../../gpu/kernels/nonfinite-check/nonfinite-check.ts';
import type { WeightDtype } from '../../gpu/weight-words.ts';

/** `result[2]` when no element is non-finite (nonfinite-check.ts). */
const NONE = 0xffff_ffff;
const RESULT_BYTES = 12;
const RESET = new Uint32Array([0, 0, NONE]);

export interface FiniteCheck {
  /** The module, for the message. */
  module: string;
  dtype: WeightDtype;
  count: number;
  data: GPUBuffer;
  /** The check's persistent result buffer (`FiniteBatch.resultBuffer`). */
  result: GPUBuffer;
}

export interface NonfiniteFound {
  check: FiniteCheck;
  nan: number;
  inf: number;
  firstIndex: number | null;
}

export class FiniteBatch {
  private readback: GPUBuffer | null = null;
  /** Buffers this batch made (result buffers and read-backs). */
  buffersCreated = 0;

  constructor(private readonly device: GPUDevice) {}

  /** A result buffer for one checked weight (keep it with the weight: it is reused every change). */
  resultBuffer(label: string): GPUBuffer {
    this.buffersCreated++;
    return this.device.createBuffer({
      label: `${label}:nonfinite`,
      size: 16,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
  }

  private readbackFor(bytes: number): GPUBuffer {
    if (this.readback && this.readback.size >= bytes) return this.readback;
    this.readback?.destroy();
    this.buffersCreated++;
    this.readback = this.device.createBuffer({
      label: 'gpu-store:nonfinite-readback',
      size: Math.max(64, bytes * 2),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    return this.readback;
  }

  /** Runs every check (after the merges were submitted); returns the non-finite ones. */
  async run(checks: readonly FiniteCheck[]): Promise<NonfiniteFound[]> {
    if (checks.length === 0) return [];
    const encoder = this.device.createCommandEncoder({ label: 'gpu-store:nonfinite' });
    for (const c of checks) {
      this.device.queue.writeBuffer(c.result, 0, RESET);
      await launch(this.device, nonfiniteCheckKernel, {
        module: c.module,
        dtype: c.dtype,
        params: { count: c.count },
        buffers: { data: c.data, result: c.result },
        encoder,
      });
    }
    const readback = this.readbackFor(checks.length * RESULT_BYTES);
    checks.forEach((c, i) => {
      encoder.copyBufferToBuffer(c.result, 0, readback, i * RESULT_BYTES, RESULT_BYTES);
    });
    submitEncoders(this.device, [encoder]);
    await readback.mapAsync(GPUMapMode.READ, 0, checks.length * RESULT_BYTES);
    const words = new Uint32Array(readback.getMappedRange(0, checks.length * RESULT_BYTES).slice(0));
    readback.unmap();
    const found: NonfiniteFound[] = [];
    checks.forEach((check, i) => {
      const nan = words[i * 3]!;
      const inf = words[i * 3 + 1]!;
      const first = words[i * 3 + 2]!;
      if (nan + inf > 0) found.push({ check, nan, inf, firstIndex: first === NONE ? null : first });
    });
    return found;
  }

  destroy(): void {
    this.readback?.destroy();
    this.readback = null;
  }
}

/** The `lora-nonfinite` error for the first non-finite weight of a change. */
export function nonfiniteError(
  f: NonfiniteFound,
  what: string,
  terms: readonly { source?: string; coefficient: number }[],
): LorafuseError {
  const sources = [...new Set(terms.map((t) => t.source ?? '?'))];
  const coefficients = terms.map((t) => t.coefficient);
  return new LorafuseError(
    'lora-nonfinite',
    `module ${f.check.module}: ${what} would hold ${f.nan} NaN and ${f.inf} Inf values (first at element ${f.firstIndex}; adapters from ${sources.join(', ')}, coefficients ${coefficients.join(', ')}). Nothing was changed; lower the weights or check the LoRA file.`,
    { module: f.check.module, nan: f.nan, inf: f.inf, firstIndex: f.firstIndex, sources, coefficients },
  );
}
