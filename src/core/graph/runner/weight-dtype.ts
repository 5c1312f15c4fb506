/**
 * The dtype the networks' weights are stored in, decided in one place (DESIGN.md decision 8).
 *
 * 'float16' halves weight memory and upload bytes (SDXL's UNet: 10 GB -> 5 GB). Compute stays
 * float32: `GraphBuilder.weight` casts each float16 weight input to float32 inside the graph, so
 * the only change in the outputs is the f16 rounding of the weights.
 * - WebGPU: float16 when the device has `shader-f16`, float32 otherwise (SwiftShader has none).
 *   onnxruntime-web's WebGPU EP needs shader-f16 for any float16 tensor, even one only cast.
 * - wasm: float32 (the Cast would run on the CPU at every run). float16 works there too; build the
 *   graph with `weightDType: 'float16'` to choose it explicitly.
 */
import { LorafuseError } from '../../../errors.ts';
import type { WebGpuStatus } from '../../gpu/device.ts';
import type { GraphDef, WeightDType } from '../dsl/builder.ts';
import type { Backend } from './session.ts';

export type { WeightDType } from '../dsl/builder.ts';

/** What the choice is made from: a backend name, the probed WebGPU status, or the device itself. */
export type WeightDtypeTarget = Backend | WebGpuStatus | Pick<GPUDevice, 'features'>;

const SHADER_F16 = 'shader-f16';

/**
 * float16 for WebGPU with shader-f16, float32 otherwise. A bare 'webgpu' says nothing about
 * shader-f16 and gets float32: pass the status or the device to allow float16.
 */
export function chooseWeightDtype(target: WeightDtypeTarget): WeightDType {
  if (typeof target === 'string') return 'float32';
  if ('available' in target) return target.available && target.shaderF16 ? 'float16' : 'float32';
  return target.features.has(SHADER_F16) ? 'float16' : 'float32';
}

/** The dtype of `def`'s weight inputs (float32 for a graph without weights). */
export function weightDtypeOf(def: GraphDef): WeightDType {
  const dtypes = new Set(def.weights.map((w) => w.dtype));
  if (dtypes.size === 0) return 'float32';
  const [only] = dtypes;
  if (dtypes.size > 1 || (only !== 'float32' && only !== 'float16')) {
    throw new LorafuseError(
      'internal',
      `${def.name}: weight inputs must share one float dtype, got ${[...dtypes]}.`,
      {
        network: def.name,
        dtypes: [...dtypes],
      },
    );
  }
  return only;
}

/**
 * Throws unless a session for `def` can run its weight dtype on `backend`: float16 weights on
 * WebGPU need a device with shader-f16 (onnxruntime-web refuses any float16 tensor without it).
 */
export function assertWeightDtypeRuns(def: GraphDef, backend: Backend, device: GPUDevice | null): void {
  if (backend !== 'webgpu' || weightDtypeOf(def) !== 'float16') return;
  if (device?.features.has(SHADER_F16)) return;
  throw new LorafuseError(
    'invalid-argument',
    `${def.name}: the graph has float16 weights, but this GPU device has no '${SHADER_F16}' feature, ` +
      "which onnxruntime-web's WebGPU backend needs for float16 tensors. Build the graph with " +
      '`weightDType: chooseWeightDtype(device)` (float32 here).',
    { network: def.name },
  );
}
