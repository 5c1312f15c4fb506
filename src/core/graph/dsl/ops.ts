/**
 * ONNX operators with shape inference. Each function adds one node (plus small constants) and
 * returns its value; static dims are checked so that a wrong channel count fails while the graph is
 * built, naming the module, not later inside onnxruntime. Only operators that onnxruntime-web's
 * WebGPU backend implements are used (see tests/unit/graph-webgpu-ops.test.ts).
 */
import { LorafuseError } from '../../../errors.ts';
import type { AttrValue, Dim, DType, GraphBuilder, Shape, Value } from './builder.ts';
import { attr } from './builder.ts';

// ---------------------------------------------------------------------------------------------
// Dims

function shapeError(g: GraphBuilder, op: string, message: string, details: Record<string, unknown>): never {
  throw new LorafuseError('internal', `Graph '${g.name}' at '${g.path}': ${op}: ${message}`, details);
}

/** The product of dims; symbolic when any factor is. */
function mulDims(...dims: Dim[]): Dim {
  let n = 1;
  const sym: string[] = [];
  for (const d of dims) {
    if (typeof d === 'number') n *= d;
    else sym.push(d);
  }
  if (sym.length === 0) return n;
  return n === 1 ? sym.join('*') : `${n}*${sym.join('*')}`;
}

/**
 * `prod(numerator) / prod(denominator)` with symbolic dims cancelled by name; null when the static
 * parts do not divide. An uncancelled symbolic denominator gives an opaque expression.
 */
function divideDims(numerator: Shape, denominator: Shape): Dim | null {
  const syms: string[] = [];
  let n = 1;
  for (const d of numerator) {
    if (typeof d === 'number') n *= d;
    else syms.push(d);
  }
  let m = 1;
  const leftover: string[] = [];
  for (const d of denominator) {
    if (typeof d === 'number') m *= d;
    else {
      const at = syms.indexOf(d);
      if (at >= 0) syms.splice(at, 1);
      else leftover.push(d);
    }
  }
  if (leftover.length > 0) return `${mulDims(n, ...syms)}/(${mulDims(m, ...leftover)})`;
  if (syms.length === 0) return n % m === 0 ? n / m : null;
  return n % m === 0 ? mulDims(n / m, ...syms) : `${mulDims(n, ...syms)}/${m}`;
}

function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

function broadcast(g: GraphBuilder, op: string, a: Shape, b: Shape): Dim[] {
  const rank = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    const da = i - (rank - a.length) >= 0 ? a[i - (rank - a.length)]! : 1;
    const db = i - (rank - b.length) >= 0 ? b[i - (rank - b.length)]! : 1;
    if (da === db || db === 1) out.push(da);
    else if (da === 1) out.push(db);
    else if (typeof da === 'number' && typeof db === 'number') {
      shapeError(g, op, `shapes [${a}] and [${b}] do not broadcast`, { a, b });
    } else out.push(typeof da === 'number' ? da : db);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Constants

export function scalar(g: GraphBuilder, value: number): Value {
  return g.constant('float32', [], [value]);
}

export function ints(g: GraphBuilder, values: readonly number[]): Value {
  return g.constant('int64', [values.length], values);
}

// ---------------------------------------------------------------------------------------------
// Elementwise

function binary(g: GraphBuilder, op: string, a: Value, b: Value): Value {
  return g.node1(op, [a, b], { dtype: a.dtype, shape: broadcast(g, op, a.shape, b.shape) });
}

export const add = (g: GraphBuilder, a: Value, b: Value) => binary(g, 'Add', a, b);
export const sub = (g: GraphBuilder, a: Value, b: Value) => binary(g, 'Sub', a, b);
export const mul = (g: GraphBuilder, a: Value, b: Value) => binary(g, 'Mul', a, b);
export const div = (g: GraphBuilder, a: Value, b: Value) => binary(g, 'Div', a, b);

export function compare(g: GraphBuilder, op: 'Equal' | 'Greater' | 'Less', a: Value, b: Value): Value {
  return g.node1(op, [a, b], { dtype: 'bool', shape: broadcast(g, op, a.shape, b.shape) });
}

function unary(g: GraphBuilder, op: string, x: Value, attrs: Record<string, AttrValue> = {}): Value {
  return g.node1(op, [x], { dtype: x.dtype, shape: x.shape }, attrs);
}

export const sigmoid = (g: GraphBuilder, x: Value) => unary(g, 'Sigmoid', x);
export const erf = (g: GraphBuilder, x: Value) => unary(g, 'Erf', x);
export const sin = (g: GraphBuilder, x: Value) => unary(g, 'Sin', x);
export const cos = (g: GraphBuilder, x: Value) => unary(g, 'Cos', x);

export function softmax(g: GraphBuilder, x: Value, axis = -1): Value {
  return unary(g, 'Softmax', x, { axis: attr.int(axis) });
}

export function cast(g: GraphBuilder, x: Value, to: DType): Value {
  return g.node1('Cast', [x], { dtype: to, shape: x.shape }, { to: attr.int(ONNX_DTYPE[to]) });
}

export function where(g: GraphBuilder, cond: Value, a: Value, b: Value): Value {
  const shape = broadcast(g, 'Where', broadcast(g, 'Where', cond.shape, a.shape), b.shape);
  return g.node1('Where', [cond, a, b], { dtype: a.dtype, shape });
}

/** ONNX TensorProto.DataType codes. */
export const ONNX_DTYPE: Readonly<Record<DType, number>> = {
  float32: 1,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
};

// ---------------------------------------------------------------------------------------------
// Linear algebra and convolution

export function matmul(g: GraphBuilder, a: Value, b: Value): Value {
  if (a.shape.length < 2 || b.shape.length < 2) {
    shapeError(g, 'MatMul', 'both operands need rank >= 2', { a: a.shape, b: b.shape });
  }
  const k1 = a.shape[a.shape.length - 1]!;
  const k2 = b.shape[b.shape.length - 2]!;
  if (typeof k1 === 'number' && typeof k2 === 'number' && k1 !== k2) {
    shapeError(g, 'MatMul', `inner dims differ: [${a.shape}] x [${b.shape}]`, { a: a.shape, b: b.shape });
  }
  const batch = broadcast(g, 'MatMul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  const shape = [...batch, a.shape[a.shape.length - 2]!, b.shape[b.shape.length - 1]!];
  return g.node1('MatMul', [a, b], { dtype: a.dtype, shape });
}

export interface ConvOptions {
  readonly stride?: number;
  readonly pad?: number;
}

/** 2-D convolution, NCHW, square kernel, symmetric padding. */
export function conv2d(g: GraphBuilder, x: Value, w: Value, b: Value | null, opts: ConvOptions = {}): Value {
  const stride = opts.stride ?? 1;
  const pad = opts.pad ?? 0;
  const [n, c, h, wd] = x.shape;
  const [outC, inC, kh, kw] = w.shape;
  if (x.shape.length !== 4 || w.shape.length !== 4) {
    shapeError(g, 'Conv', 'expects NCHW input and OIHW weight', { x: x.shape, w: w.shape });
  }
  if (typeof c === 'number' && typeof inC === 'number' && c !== inC) {
    shapeError(g, 'Conv', `input has ${c} channels, weight '${w.name}' expects ${inC}`, {
      x: x.shape,
      w: w.shape,
    });
  }
  const spatial = (d: Dim, k: Dim): Dim =>
    typeof d === 'number' && typeof k === 'number'
      ? Math.floor((d + 2 * pad - k) / stride) + 1
      : stride === 1 && pad * 2 + 1 === k
        ? d
        : `conv(${d})`;
  const shape = [n!, outC!, spatial(h!, kh!), spatial(wd!, kw!)];
  return g.node1(
    'Conv',
    b ? [x, w, b] : [x, w],
    { dtype: x.dtype, shape },
    {
      kernel_shape: attr.ints([Number(kh), Number(kw)]),
      pads: attr.ints([pad, pad, pad, pad]),
      strides: attr.ints([stride, stride]),
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Normalisation

export function layerNormalization(g: GraphBuilder, x: Value, scale: Value, bias: Value, eps: number): Value {
  return g.node1(
    'LayerNormalization',
    [x, scale, bias],
    { dtype: x.dtype, shape: x.shape },
    {
      axis: attr.int(-1),
      epsilon: attr.float(eps),
    },
  );
}

export function instanceNormalization(
  g: GraphBuilder,
  x: Value,
  scale: Value,
  bias: Value,
  eps: number,
): Value {
  return g.node1(
    'InstanceNormalization',
    [x, scale, bias],
    { dtype: x.dtype, shape: x.shape },
    {
      epsilon: attr.float(eps),
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Shape manipulation

export function shapeOf(g: GraphBuilder, x: Value): Value {
  return g.node1('Shape', [x], { dtype: 'int64', shape: [x.shape.length] });
}

/** Reshape to a constant target; `0` copies the input dim, one `-1` takes the rest. */
export function reshape(g: GraphBuilder, x: Value, target: readonly number[]): Value {
  const out: Dim[] = target.map((d, i) => (d === 0 ? x.shape[i]! : d));
  const minus = target.indexOf(-1);
  if (minus >= 0) {
    const rest = divideDims(
      x.shape,
      out.filter((_, i) => i !== minus),
    );
    if (rest === null)
      shapeError(g, 'Reshape', `[${x.shape}] cannot become [${target}]`, { x: x.shape, target });
    out[minus] = rest;
  }
  return g.node1('Reshape', [x, ints(g, target)], { dtype: x.dtype, shape: out });
}

/** Reshape to a shape computed in the graph (an int64 vector), with its known static form. */
export function reshapeTo(g: GraphBuilder, x: Value, shape: Value, staticShape: Shape): Value {
  return g.node1('Reshape', [x, shape], { dtype: x.dtype, shape: staticShape });
}

export function transpose(g: GraphBuilder, x: Value, perm: readonly number[]): Value {
  if (perm.length !== x.shape.length) {
    shapeError(g, 'Transpose', `perm [${perm}] for rank ${x.shape.length}`, { x: x.shape, perm });
  }
  const shape = perm.map((p) => x.shape[p]!);
  return g.node1('Transpose', [x], { dtype: x.dtype, shape }, { perm: attr.ints(perm) });
}

export function unsqueeze(g: GraphBuilder, x: Value, axes: readonly number[]): Value {
  const rank = x.shape.length + axes.length;
  const norm = axes.map((a) => normAxis(a, rank));
  const shape: Dim[] = [];
  let src = 0;
  for (let i = 0; i < rank; i++) shape.push(norm.includes(i) ? 1 : x.shape[src++]!);
  return g.node1('Unsqueeze', [x, ints(g, axes)], { dtype: x.dtype, shape });
}

export function concat(g: GraphBuilder, values: readonly Value[], axis: number): Value {
  const first = values[0]!;
  const ax = normAxis(axis, first.shape.length);
  const shape = [...first.shape];
  let total: Dim = 0;
  for (const v of values) {
    const d = v.shape[ax]!;
    total = typeof total === 'number' && typeof d === 'number' ? total + d : `${total}+${d}`;
  }
  shape[ax] = total;
  return g.node1('Concat', values, { dtype: first.dtype, shape }, { axis: attr.int(axis) });
}

/** Splits `axis` into pieces of the given static sizes. */
export function split(g: GraphBuilder, x: Value, sizes: readonly number[], axis: number): Value[] {
  const ax = normAxis(axis, x.shape.length);
  const d = x.shape[ax]!;
  const sum = sizes.reduce((a, b) => a + b, 0);
  if (typeof d === 'number' && d !== sum) {
    shapeError(g, 'Split', `axis ${axis} has ${d}, pieces sum to ${sum}`, { x: x.shape, sizes });
  }
  const outs = sizes.map((s) => {
    const shape = [...x.shape];
    shape[ax] = s;
    return { dtype: x.dtype, shape };
  });
  return g.node('Split', [x, ints(g, sizes)], outs, { axis: attr.int(axis) });
}

/** Static slice along axes (ends may be large to mean "to the end"). */
export function slice(
  g: GraphBuilder,
  x: Value,
  starts: readonly number[],
  ends: readonly number[],
  axes: readonly number[],
): Value {
  const shape = [...x.shape];
  axes.forEach((a, i) => {
    const ax = normAxis(a, x.shape.length);
    const d = x.shape[ax]!;
    const s = starts[i]!;
    const e = ends[i]!;
    if (typeof d === 'number') {
      const clamp = (v: number) => Math.max(0, Math.min(d, v < 0 ? v + d : v));
      shape[ax] = Math.max(0, clamp(e) - clamp(s));
    } else shape[ax] = `${d}[${s}:${e}]`;
  });
  return g.node1('Slice', [x, ints(g, starts), ints(g, ends), ints(g, axes)], { dtype: x.dtype, shape });
}

/** `x[..., :end]` along `axis` with `end` computed in the graph (an int64 [1]); `length` is its static size. */
export function sliceTo(g: GraphBuilder, x: Value, end: Value, axis: number, length: Dim): Value {
  const shape = [...x.shape];
  shape[normAxis(axis, x.shape.length)] = length;
  return g.node1('Slice', [x, ints(g, [0]), end, ints(g, [axis])], { dtype: x.dtype, shape });
}

export function gather(g: GraphBuilder, data: Value, indices: Value, axis = 0): Value {
  const ax = normAxis(axis, data.shape.length);
  const shape = [...data.shape.slice(0, ax), ...indices.shape, ...data.shape.slice(ax + 1)];
  return g.node1('Gather', [data, indices], { dtype: data.dtype, shape }, { axis: attr.int(axis) });
}

/** `out[b] = data[b, indices[b, 0]]` for indices of shape [B, 1] (GatherND with batch_dims = 1). */
export function gatherRows(g: GraphBuilder, data: Value, indices: Value): Value {
  const shape = [data.shape[0]!, ...data.shape.slice(2)];
  return g.node1('GatherND', [data, indices], { dtype: data.dtype, shape }, { batch_dims: attr.int(1) });
}

export function argMax(g: GraphBuilder, x: Value, axis: number, keepdims: boolean): Value {
  const ax = normAxis(axis, x.shape.length);
  const shape = keepdims ? x.shape.map((d, i) => (i === ax ? 1 : d)) : x.shape.filter((_, i) => i !== ax);
  return g.node1(
    'ArgMax',
    [x],
    { dtype: 'int64', shape },
    {
      axis: attr.int(axis),
      keepdims: attr.int(keepdims ? 1 : 0),
    },
  );
}

/** `[start, start + delta, ...)` up to `limit` (scalars of one dtype); `length` is its static size. */
export function range(g: GraphBuilder, start: Value, limit: Value, delta: Value, length: Dim): Value {
  return g.node1('Range', [start, limit, delta], { dtype: start.dtype, shape: [length] });
}

/** Nearest-neighbour resize of NCHW to an int64 `sizes` vector (torch `interpolate(mode='nearest')`). */
export function resizeNearest(g: GraphBuilder, x: Value, sizes: Value, staticShape: Shape): Value {
  return g.node1(
    'Resize',
    [x, null, null, sizes],
    { dtype: x.dtype, shape: staticShape },
    {
      mode: attr.string('nearest'),
      coordinate_transformation_mode: attr.string('asymmetric'),
      nearest_mode: attr.string('floor'),
    },
  );
}

/** Nearest-neighbour resize of NCHW by constant per-axis factors. */
export function resizeNearestScale(g: GraphBuilder, x: Value, factor: number): Value {
  const scaleDim = (d: Dim): Dim => (typeof d === 'number' ? d * factor : `${d}*${factor}`);
  const shape = [x.shape[0]!, x.shape[1]!, scaleDim(x.shape[2]!), scaleDim(x.shape[3]!)];
  const scales = g.constant('float32', [4], [1, 1, factor, factor]);
  return g.node1(
    'Resize',
    [x, null, scales],
    { dtype: x.dtype, shape },
    {
      mode: attr.string('nearest'),
      coordinate_transformation_mode: attr.string('asymmetric'),
      nearest_mode: attr.string('floor'),
    },
  );
}
