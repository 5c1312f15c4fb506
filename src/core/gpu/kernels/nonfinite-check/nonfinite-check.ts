/**
 * Counts NaN and Inf in a weight buffer and finds the first one, so that a merge or fuse that
 * produced a non-finite value is refused with the module named instead of poisoning an image.
 */
import { LorafuseError } from '../../../../errors.ts';
import { declareKernel, launch, submitEncoders } from '../../kernel.ts';
import { createStorageBuffer } from '../../storage-buffer.ts';
import source from './nonfinite-check.wgsl?raw';

/** Workgroups of one launch at most; threads then stride over the rest. */
const MAX_WORKGROUPS = 1024;
/** `result[2]` when no element is non-finite. */
const NONE = 0xffff_ffff;

export const nonfiniteCheckKernel = declareKernel({
  name: 'nonfinite-check',
  source,
  params: { count: 'u32' },
  bindings: { data: 'read', result: 'read-write' },
  overrides: { WG: 256 },
  dtypes: { f32: { PACKED_F16: 0 }, f16: { PACKED_F16: 1 } },
  dispatch: (p, o) => [Math.min(MAX_WORKGROUPS, Math.ceil(p.count / o.WG))],
});

export interface NonfiniteCount {
  nan: number;
  inf: number;
  /** Index of the first non-finite element, or null when all are finite. */
  firstIndex: number | null;
}

export interface NonfiniteCheckArgs {
  /** The module the buffer holds, for labels and errors. */
  module: string;
  dtype: 'f32' | 'f16';
  /** Elements (not words) to check. */
  count: number;
  data: GPUBuffer;
}

/** Runs the check and reads the three counters back. */
export async function countNonfinite(device: GPUDevice, args: NonfiniteCheckArgs): Promise<NonfiniteCount> {
  const label = `nonfinite-check:${args.module}`;
  const result = createStorageBuffer(device, {
    label: `${label}:result`,
    data: new Uint32Array([0, 0, NONE]),
  });
  const readback = device.createBuffer({
    label: `${label}:readback`,
    size: result.size,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  try {
    const encoder = device.createCommandEncoder({ label });
    await launch(device, nonfiniteCheckKernel, {
      module: args.module,
      dtype: args.dtype,
      params: { count: args.count },
      buffers: { data: args.data, result },
      encoder,
    });
    encoder.copyBufferToBuffer(result, 0, readback, 0, result.size);
    submitEncoders(device, [encoder]);
    await readback.mapAsync(GPUMapMode.READ);
    const [nan, inf, first] = new Uint32Array(readback.getMappedRange().slice(0));
    readback.unmap();
    return { nan: nan!, inf: inf!, firstIndex: first === NONE ? null : first! };
  } finally {
    result.destroy();
    readback.destroy();
  }
}

/** Throws `lora-nonfinite` naming the module when the buffer holds a NaN or Inf. */
export async function assertFinite(device: GPUDevice, args: NonfiniteCheckArgs): Promise<void> {
  const c = await countNonfinite(device, args);
  if (c.nan + c.inf > 0) {
    throw new LorafuseError(
      'lora-nonfinite',
      `${args.module}: the merged weight has ${c.nan} NaN and ${c.inf} Inf values (first at element ` +
        `${c.firstIndex}); refused. Lower the adapter weights, or check the LoRA file for NaN/Inf values` +
        `${args.dtype === 'f16' ? ' or values beyond the f16 range (65504)' : ''}.`,
      { module: args.module, ...c },
    );
  }
}
