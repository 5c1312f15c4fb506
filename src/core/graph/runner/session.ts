/**
 * One onnxruntime-web session per network, created once from the built model bytes. Weights are
 * graph inputs: they are set (and replaced, e.g. after a LoRA merge) as tensors between runs,
 * never baked into the session.
 */
import * as ort from 'onnxruntime-web';
import { LorafuseError } from '../../../errors.ts';
import type { GraphDef, WeightSpec } from '../dsl/builder.ts';
import { serializeGraph } from '../dsl/serialize.ts';

export interface NetworkSessionOptions {
  /** Defaults to `['wasm']`; WebGPU passes `['webgpu']` with the shared device. */
  readonly executionProviders?: ort.InferenceSession.ExecutionProviderConfig[];
}

export class NetworkSession {
  readonly def: GraphDef;
  private readonly session: ort.InferenceSession;
  private readonly specs: ReadonlyMap<string, WeightSpec>;
  private readonly weights = new Map<string, ort.Tensor>();

  private constructor(def: GraphDef, session: ort.InferenceSession) {
    this.def = def;
    this.session = session;
    this.specs = new Map(def.weights.map((w) => [w.name, w]));
  }

  static async create(def: GraphDef, options: NetworkSessionOptions = {}): Promise<NetworkSession> {
    const session = await ort.InferenceSession.create(serializeGraph(def), {
      executionProviders: options.executionProviders ?? ['wasm'],
      graphOptimizationLevel: 'all',
    });
    return new NetworkSession(def, session);
  }

  /** Sets (or replaces) one weight; its name and shape must be the graph's. */
  setWeight(name: string, tensor: ort.Tensor): void {
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
    const same = tensor.dims.length === spec.shape.length && tensor.dims.every((d, i) => d === spec.shape[i]);
    if (!same || tensor.type !== spec.dtype) {
      throw new LorafuseError(
        'lora-shape-mismatch',
        `${this.def.name}: weight '${name}' must be ${spec.dtype} [${spec.shape}], got ${tensor.type} [${tensor.dims}].`,
        { network: this.def.name, weight: name, expected: spec.shape, got: tensor.dims },
      );
    }
    this.weights.set(name, tensor);
  }

  /** The weight currently set under `name`, if any. */
  getWeight(name: string): ort.Tensor | undefined {
    return this.weights.get(name);
  }

  /** Weights the graph needs that are not set yet. */
  missingWeights(): string[] {
    return this.def.weights.filter((w) => !this.weights.has(w.name)).map((w) => w.name);
  }

  /** Runs with the current weights plus `inputs` (the graph's non-weight inputs). */
  async run(inputs: Readonly<Record<string, ort.Tensor>>): Promise<Record<string, ort.Tensor>> {
    const missing = this.missingWeights();
    if (missing.length > 0) {
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
