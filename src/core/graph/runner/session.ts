/**
 * One onnxruntime-web session per network, created once from the built model bytes and kept for
 * the model's life. Weights are graph inputs: they are set (and replaced) between runs, never baked
 * into the session (DESIGN.md decision 1). One interface, two backends:
 * - 'webgpu': weights are `GPUBuffer`s we own on OUR device (`setWeightBuffer`), fed with
 *   `ort.Tensor.fromGpuBuffer`; rewriting a buffer's contents (queue.writeBuffer, a merge kernel)
 *   changes the next run, with the same session and the same tensors. Outputs stay in GPU buffers
 *   by default (`downloadOutput` reads one back).
 * - 'wasm': weights are CPU tensors (`setWeight`); the fallback without WebGPU, and Node.
 * Weights are float32 or float16 as the graph declares them (`weightDtype`, chosen by
 * `chooseWeightDtype` in ./weight-dtype.ts); a float32 CPU tensor given to a float16 session is
 * rounded to float16 here, a GPU buffer must already hold the session's dtype.
 */
import * as ort from 'onnxruntime-web';
import { LorafuseError } from '../../../errors.ts';
import { f32ToF16 } from '../../io/safetensors.ts';
import type { GraphDef, WeightDType, WeightSpec } from '../dsl/builder.ts';
import { serializeGraph } from '../dsl/serialize.ts';
import { shareDeviceWithOrt, verifyOrtDevice } from './ort-device.ts';
import { assertWeightDtypeRuns, weightDtypeOf } from './weight-dtype.ts';

export type Backend = 'wasm' | 'webgpu';

/** ORT's graph optimisation level (a fusion into an op the backend lacks would run on the CPU). */
export type OptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

/**
 * Per backend. At 'all', ORT 1.30 fuses our graphs into Gemm (MatMulAddFusion) and com.microsoft
 * QuickGelu, both WebGPU kernels, and introduces no FusedMatMul; every compute node stays on the
 * WebGPU EP (checked from ORT's node placement log by tests/e2e/numeric-webgpu.test.ts).
 */
export const DEFAULT_OPTIMIZATION: Readonly<Record<Backend, OptimizationLevel>> = {
  wasm: 'all',
  webgpu: 'all',
};

export type NetworkSessionOptions =
  | {
      readonly backend?: 'wasm';
      readonly optimization?: OptimizationLevel;
      readonly logSeverityLevel?: LogLevel;
    }
  | {
      readonly backend: 'webgpu';
      /** Our device: weight buffers live on it, and ORT is made to run on it. */
      readonly device: GPUDevice;
      /** Where outputs stay: in GPU buffers (default) or copied to the CPU by ORT. */
      readonly outputLocation?: 'gpu-buffer' | 'cpu';
      readonly optimization?: OptimizationLevel;
      readonly logSeverityLevel?: LogLevel;
    };

/** ORT's session log severity: 0 verbose (node placements), 2 warnings (default), 4 fatal. */
export type LogLevel = 0 | 1 | 2 | 3 | 4;

/**
 * onnxruntime-web's WebGPU kernels read their inputs in 16-byte vectors and allocate their own
 * buffers padded to 16 bytes. A GPU buffer we pass must be padded the same way: with an exact-size
 * buffer the last partial vector is read out of bounds, and WebGPU's robust access returns other
 * elements (measured: a 37-float bias put the tiny CLIP text encoder off by 7e-3).
 */
export const ORT_BUFFER_ALIGNMENT = 16;

/** `bytes` rounded up to ORT_BUFFER_ALIGNMENT. */
export function ortBufferSize(bytes: number): number {
  return Math.max(ORT_BUFFER_ALIGNMENT, Math.ceil(bytes / ORT_BUFFER_ALIGNMENT) * ORT_BUFFER_ALIGNMENT);
}

function bytesOf(spec: WeightSpec): number {
  const size = spec.dtype === 'float16' ? 2 : spec.dtype === 'bool' ? 1 : spec.dtype === 'int64' ? 8 : 4;
  return spec.shape.reduce((a, b) => a * b, 1) * size;
}

export class NetworkSession {
  readonly def: GraphDef;
  readonly backend: Backend;
  /** The device of a 'webgpu' session, null on 'wasm'. */
  readonly device: GPUDevice | null;
  /** The dtype of every weight input of the graph. */
  readonly weightDtype: WeightDType;
  private readonly session: ort.InferenceSession;
  private readonly specs: ReadonlyMap<string, WeightSpec>;
  private readonly weights = new Map<string, ort.Tensor>();

  private constructor(
    def: GraphDef,
    session: ort.InferenceSession,
    backend: Backend,
    device: GPUDevice | null,
  ) {
    this.def = def;
    this.session = session;
    this.backend = backend;
    this.device = device;
    this.weightDtype = weightDtypeOf(def);
    this.specs = new Map(def.weights.map((w) => [w.name, w]));
  }

  static async create(def: GraphDef, options: NetworkSessionOptions = {}): Promise<NetworkSession> {
    const backend = options.backend ?? 'wasm';
    assertWeightDtypeRuns(def, backend, options.backend === 'webgpu' ? options.device : null);
    const common: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: options.optimization ?? DEFAULT_OPTIMIZATION[backend],
      logSeverityLevel: options.logSeverityLevel ?? 2,
    };
    const bytes = serializeGraph(def);
    if (options.backend !== 'webgpu') {
      const session = await ort.InferenceSession.create(bytes, { ...common, executionProviders: ['wasm'] });
      return new NetworkSession(def, session, 'wasm', null);
    }
    const { device } = options;
    shareDeviceWithOrt(device);
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, {
        ...common,
        executionProviders: ['webgpu'],
        preferredOutputLocation: options.outputLocation ?? 'gpu-buffer',
      });
    } catch (e) {
      throw new LorafuseError(
        'internal',
        `${def.name}: onnxruntime-web could not create a WebGPU session: ${e instanceof Error ? e.message : String(e)}`,
        { network: def.name },
        { cause: e },
      );
    }
    try {
      await verifyOrtDevice(device);
    } catch (e) {
      await session.release();
      throw e;
    }
    return new NetworkSession(def, session, 'webgpu', device);
  }

  private spec(name: string): WeightSpec {
    const spec = this.specs.get(name);
    if (!spec) {
      throw new LorafuseError(
        'invalid-argument',
        `${this.def.name}: '${name}' is not a weight of this network.`,
        {
          network: this.def.name,
          weight: name,
        },
      );
    }
    return spec;
  }

  /**
   * Sets (or replaces) one weight from a tensor (CPU, or a GPU buffer on 'webgpu'); name and shape
   * must be the graph's, and so must the dtype, except that a float32 CPU tensor for a float16
   * weight is rounded to float16 (to nearest even) here.
   */
  setWeight(name: string, tensor: ort.Tensor): void {
    const spec = this.spec(name);
    const same = tensor.dims.length === spec.shape.length && tensor.dims.every((d, i) => d === spec.shape[i]);
    if (same && spec.dtype === 'float16' && tensor.type === 'float32' && tensor.location === 'cpu') {
      const half = f32ToF16(tensor.data as Float32Array);
      this.setWeight(name, new ort.Tensor('float16', half, tensor.dims));
      return;
    }
    if (same && tensor.type !== spec.dtype) {
      throw new LorafuseError(
        'invalid-argument',
        `${this.def.name}: weight '${name}' is ${tensor.type} (${tensor.location}), but this session takes ` +
          `${spec.dtype} weights. ` +
          (tensor.location === 'gpu-buffer'
            ? `Upload it as ${spec.dtype === 'float16' ? "'f16-packed'" : "'f32'"} (weightBuffersFromSafetensors does).`
            : `Pass a float32 or ${spec.dtype} tensor.`),
        { network: this.def.name, weight: name, expected: spec.dtype, got: tensor.type },
      );
    }
    if (!same || tensor.type !== spec.dtype) {
      throw new LorafuseError(
        'lora-shape-mismatch',
        `${this.def.name}: weight '${name}' must be ${spec.dtype} [${spec.shape}], got ${tensor.type} [${tensor.dims}].`,
        { network: this.def.name, weight: name, expected: spec.shape, got: tensor.dims },
      );
    }
    if (tensor.location === 'gpu-buffer' && this.backend !== 'webgpu') {
      throw new LorafuseError(
        'invalid-argument',
        `${this.def.name}: weight '${name}' is a GPU buffer, but this session runs on '${this.backend}'. Pass a CPU tensor.`,
        { network: this.def.name, weight: name },
      );
    }
    this.weights.set(name, tensor);
  }

  /**
   * 'webgpu' only: the weight lives in `buffer` (our device, STORAGE usage, at least the weight's
   * bytes rounded up to ORT_BUFFER_ALIGNMENT). The session reads the buffer at every run; rewriting
   * its contents needs no call here. `dtype` says what the buffer holds (float32, or float16 as
   * uploaded 'f16-packed'); it must be the session's weight dtype: a buffer cannot be converted.
   */
  setWeightBuffer(name: string, buffer: GPUBuffer, dtype: WeightDType = 'float32'): void {
    const spec = this.spec(name);
    if (dtype !== spec.dtype) {
      throw new LorafuseError(
        'invalid-argument',
        `${this.def.name}: the buffer for '${name}' holds ${dtype}, but this session takes ${spec.dtype} weights. ` +
          `Upload the weights as ${spec.dtype === 'float16' ? "'f16-packed'" : "'f32'"} ` +
          "(weightBuffersFromSafetensors follows the graph), or build the graph for the buffers' dtype.",
        { network: this.def.name, weight: name, expected: spec.dtype, got: dtype },
      );
    }
    if (this.backend !== 'webgpu') {
      throw new LorafuseError(
        'invalid-argument',
        `${this.def.name}: setWeightBuffer('${name}') needs a 'webgpu' session; this one runs on '${this.backend}'.`,
        { network: this.def.name, weight: name },
      );
    }
    const need = ortBufferSize(bytesOf(spec));
    if (buffer.size < need || (buffer.usage & GPUBufferUsage.STORAGE) === 0) {
      throw new LorafuseError(
        'lora-shape-mismatch',
        `${this.def.name}: the buffer for '${name}' has ${buffer.size} bytes (usage ${buffer.usage}); ` +
          `${spec.dtype} [${spec.shape}] needs ${need} bytes (padded to ${ORT_BUFFER_ALIGNMENT}, see ` +
          'ORT_BUFFER_ALIGNMENT) and STORAGE usage.',
        { network: this.def.name, weight: name, size: buffer.size, need },
      );
    }
    if (spec.dtype !== 'float32' && spec.dtype !== 'float16') {
      throw new LorafuseError(
        'not-implemented',
        `${this.def.name}: weight '${name}' has dtype ${spec.dtype}.`,
        {
          network: this.def.name,
          weight: name,
        },
      );
    }
    this.setWeight(name, ort.Tensor.fromGpuBuffer(buffer, { dataType: spec.dtype, dims: [...spec.shape] }));
  }

  /** The weight currently set under `name`, if any. */
  getWeight(name: string): ort.Tensor | undefined {
    return this.weights.get(name);
  }

  /** Weights the graph needs that are not set yet. */
  missingWeights(): string[] {
    return this.def.weights.filter((w) => !this.weights.has(w.name)).map((w) => w.name);
  }

  /**
   * Runs with the current weights plus `inputs` (the graph's non-weight inputs, CPU tensors or GPU
   * buffers). On 'webgpu' the outputs stay in GPU buffers unless the session was made with
   * `outputLocation: 'cpu'`; read them with `downloadOutput`, or `dispose()` them.
   */
  async run(inputs: Readonly<Record<string, ort.Tensor>>): Promise<Record<string, ort.Tensor>> {
    // `setWeight` takes only the graph's weight names, so equal counts mean none is missing.
    if (this.weights.size !== this.specs.size) {
      const missing = this.missingWeights();
      throw new LorafuseError(
        'invalid-argument',
        `${this.def.name}: ${missing.length} weight(s) not set, e.g. '${missing.slice(0, 3).join("', '")}'. Load the model's weights before running.`,
        { network: this.def.name, missing },
      );
    }
    for (const i of this.def.inputs) {
      if (!inputs[i.name]) {
        throw new LorafuseError('invalid-argument', `${this.def.name}: input '${i.name}' is missing.`, {
          network: this.def.name,
          input: i.name,
        });
      }
    }
    const feeds: Record<string, ort.Tensor> = { ...inputs };
    for (const [k, v] of this.weights) feeds[k] = v;
    return (await this.session.run(feeds)) as Record<string, ort.Tensor>;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/**
 * An output's values on the CPU. A GPU-buffer output is read back and its buffer released to ORT
 * (the tensor is unusable afterwards); a CPU output is returned as is.
 */
export async function downloadOutput(tensor: ort.Tensor): Promise<Float32Array> {
  if (tensor.type !== 'float32') {
    throw new LorafuseError('invalid-argument', `downloadOutput reads float32 tensors, got ${tensor.type}.`, {
      type: tensor.type,
    });
  }
  if (tensor.location === 'cpu') return tensor.data as Float32Array;
  return (await tensor.getData(true)) as Float32Array;
}
