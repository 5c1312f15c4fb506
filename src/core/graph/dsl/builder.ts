/**
 * A small ONNX graph builder. Values carry a name, a dtype and a shape (numbers for static dims,
 * strings for symbolic ones such as 'batch'); `scope()` nests module names so that every weight
 * input is named exactly like its diffusers / transformers state-dict key.
 *
 * Weights are graph INPUTS, never initializers (DESIGN.md decision 1): the graph is structure
 * only and weights are fed at run time. Initializers hold small constants only (shapes, scalars).
 */
import { LorafuseError } from '../../../errors.ts';

export type DType = 'float32' | 'float16' | 'int64' | 'int32' | 'bool';
/**
 * How weight inputs are stored: float32, or float16 (half the memory and upload bytes) cast to
 * float32 inside the graph, so compute stays float32. Chosen by `chooseWeightDtype`
 * (runner/weight-dtype.ts).
 */
export type WeightDType = 'float32' | 'float16';
export type Dim = number | string;
export type Shape = readonly Dim[];

export interface Value {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: Shape;
}

export type AttrValue =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'ints'; readonly value: readonly number[] }
  | { readonly kind: 'floats'; readonly value: readonly number[] };

export const attr = {
  int: (value: number): AttrValue => ({ kind: 'int', value }),
  float: (value: number): AttrValue => ({ kind: 'float', value }),
  string: (value: string): AttrValue => ({ kind: 'string', value }),
  ints: (value: readonly number[]): AttrValue => ({ kind: 'ints', value }),
  floats: (value: readonly number[]): AttrValue => ({ kind: 'floats', value }),
};

export interface GraphNode {
  readonly opType: string;
  readonly domain: string;
  readonly name: string;
  readonly inputs: string[];
  readonly outputs: string[];
  readonly attrs: Readonly<Record<string, AttrValue>>;
}

export type ConstantData = Float32Array | BigInt64Array | Int32Array;

export interface Constant {
  readonly name: string;
  readonly dtype: 'float32' | 'int64' | 'int32';
  readonly dims: readonly number[];
  readonly data: ConstantData;
}

/** A weight input: a diffusers state-dict key and its static shape. */
export interface WeightSpec {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
}

/** Everything a serialiser or a runner needs; produced by `GraphBuilder.finish()`. */
export interface GraphDef {
  readonly name: string;
  readonly opset: number;
  readonly inputs: readonly Value[];
  readonly weights: readonly WeightSpec[];
  readonly outputs: readonly Value[];
  readonly nodes: readonly GraphNode[];
  readonly constants: readonly Constant[];
}

export interface OutputSpec {
  readonly dtype: DType;
  readonly shape: Shape;
}

/** ONNX TensorProto.DataType FLOAT (ops.ts has the full table, which imports this file). */
const ONNX_FLOAT = 1;

/** The ai.onnx opset the graphs target (LayerNormalization needs 17). */
export const OPSET = 17;

export class GraphBuilder {
  readonly name: string;
  /** dtype of every weight input (see WeightDType). */
  readonly weightDType: WeightDType;
  private readonly scopes: string[] = [];
  private readonly inputs: Value[] = [];
  private readonly weights = new Map<string, WeightSpec>();
  private readonly outputs: Value[] = [];
  private readonly nodes: GraphNode[] = [];
  private readonly constants: Constant[] = [];
  private readonly constantByKey = new Map<string, Value>();
  private readonly producer = new Map<string, GraphNode>();
  private counter = 0;

  constructor(name: string, options: { weightDType?: WeightDType } = {}) {
    this.name = name;
    this.weightDType = options.weightDType ?? 'float32';
  }

  /** Runs `fn` with `name` appended to the module path (`a.b` then `c` gives `a.b.c`). */
  scope<T>(name: string | number, fn: () => T): T {
    this.scopes.push(String(name));
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  /** The current module path, e.g. `down_blocks.0.resnets.1`. */
  get path(): string {
    return this.scopes.join('.');
  }

  /** A run-time (non-weight) graph input. */
  input(name: string, dtype: DType, shape: Shape): Value {
    this.assertFreeName(name);
    const v: Value = { name, dtype, shape };
    this.inputs.push(v);
    return v;
  }

  /**
   * A weight: a graph input named `<scope path>.<localName>`, the diffusers state-dict key.
   * Asking twice for the same key is a builder bug (each parameter belongs to one module).
   * Always a float32 value: a float16 weight input is consumed by one `Cast` to float32 and by
   * nothing else (a Cast of a graph input cannot be constant-folded, so the input stays f16).
   */
  weight(localName: string, shape: readonly number[]): Value {
    const name = this.path ? `${this.path}.${localName}` : localName;
    this.assertFreeName(name);
    const spec: WeightSpec = { name, dtype: this.weightDType, shape: [...shape] };
    this.weights.set(name, spec);
    const raw: Value = { name, dtype: spec.dtype, shape: spec.shape };
    if (spec.dtype === 'float32') return raw;
    return this.node1('Cast', [raw], { dtype: 'float32', shape: spec.shape }, { to: attr.int(ONNX_FLOAT) });
  }

  /** A small constant initializer (shapes, axes, scalars), shared when the same data repeats. */
  constant(dtype: Constant['dtype'], dims: readonly number[], values: readonly (number | bigint)[]): Value {
    const key = `${dtype}|${dims.join(',')}|${values.join(',')}`;
    const known = this.constantByKey.get(key);
    if (known) return known;
    const name = `/const/${this.constants.length}`;
    const data: ConstantData =
      dtype === 'float32'
        ? Float32Array.from(values, Number)
        : dtype === 'int64'
          ? BigInt64Array.from(values, (x) => BigInt(x))
          : Int32Array.from(values, Number);
    this.constants.push({ name, dtype, dims: [...dims], data });
    const v: Value = { name, dtype, shape: [...dims] };
    this.constantByKey.set(key, v);
    return v;
  }

  /** Adds one node; `outputs` gives the inferred dtype and shape of each result. */
  node(
    opType: string,
    inputs: readonly (Value | null)[],
    outputs: readonly OutputSpec[],
    attrs: Record<string, AttrValue> = {},
    domain = '',
  ): Value[] {
    const id = this.counter++;
    const base = `${this.path || 'graph'}/${opType}_${id}`;
    const outValues = outputs.map(
      (o, i): Value => ({ name: `${base}:${i}`, dtype: o.dtype, shape: o.shape }),
    );
    const node: GraphNode = {
      opType,
      domain,
      name: base,
      inputs: inputs.map((v) => (v ? v.name : '')),
      outputs: outValues.map((v) => v.name),
      attrs,
    };
    this.nodes.push(node);
    for (const v of outValues) this.producer.set(v.name, node);
    return outValues;
  }

  /** Adds one node with a single result. */
  node1(
    opType: string,
    inputs: readonly (Value | null)[],
    output: OutputSpec,
    attrs: Record<string, AttrValue> = {},
    domain = '',
  ): Value {
    return this.node(opType, inputs, [output], attrs, domain)[0]!;
  }

  /** Declares `v` a graph output named `name` (renames the value where it is produced and used). */
  output(v: Value, name: string): Value {
    const node = this.producer.get(v.name);
    if (!node) {
      throw new LorafuseError(
        'internal',
        `Graph '${this.name}': output '${name}' is not produced by a node.`,
        {
          value: v.name,
        },
      );
    }
    this.assertFreeName(name);
    const rename = (names: string[]) => {
      for (let i = 0; i < names.length; i++) if (names[i] === v.name) names[i] = name;
    };
    rename(node.outputs);
    for (const n of this.nodes) rename(n.inputs);
    this.producer.delete(v.name);
    this.producer.set(name, node);
    const out: Value = { name, dtype: v.dtype, shape: v.shape };
    this.outputs.push(out);
    return out;
  }

  finish(): GraphDef {
    return {
      name: this.name,
      opset: OPSET,
      inputs: [...this.inputs],
      weights: [...this.weights.values()],
      outputs: [...this.outputs],
      nodes: [...this.nodes],
      constants: [...this.constants],
    };
  }

  private assertFreeName(name: string): void {
    if (this.weights.has(name) || this.inputs.some((i) => i.name === name) || this.producer.has(name)) {
      throw new LorafuseError('internal', `Graph '${this.name}': the name '${name}' is used twice.`, {
        name,
      });
    }
  }
}
