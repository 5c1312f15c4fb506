/**
 * Serialises a `GraphDef` to ONNX protobuf bytes with `onnx-proto` (protobufjs-generated). Weight
 * inputs are declared as graph inputs with static shapes; constants become initializers.
 */
import type { onnx as P } from 'onnx-proto';
import onnxProto from 'onnx-proto';
import type { AttrValue, Constant, Dim, GraphDef, Shape, Value, WeightSpec } from './builder.ts';
import { ONNX_DTYPE } from './ops.ts';

const { onnx } = onnxProto;

/** ONNX IR version 8 goes with opset 17. */
const IR_VERSION = 8;

function dimProto(d: Dim): P.TensorShapeProto.IDimension {
  if (typeof d === 'number') return { dimValue: d };
  // Plain identifiers ('batch', 'height') become named dims; derived expressions stay unnamed.
  return /^[A-Za-z_]\w*$/.test(d) ? { dimParam: d } : {};
}

function valueInfo(v: Value | WeightSpec): P.IValueInfoProto {
  const shape: Shape = v.shape;
  return {
    name: v.name,
    type: { tensorType: { elemType: ONNX_DTYPE[v.dtype], shape: { dim: shape.map(dimProto) } } },
  };
}

function attributeProto(name: string, a: AttrValue): P.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.kind) {
    case 'int':
      return { name, type: T.INT, i: a.value };
    case 'float':
      return { name, type: T.FLOAT, f: a.value };
    case 'string':
      return { name, type: T.STRING, s: new TextEncoder().encode(a.value) };
    case 'ints':
      return { name, type: T.INTS, ints: [...a.value] };
    case 'floats':
      return { name, type: T.FLOATS, floats: [...a.value] };
  }
}

function tensorProto(c: Constant): P.ITensorProto {
  const bytes = new Uint8Array(c.data.buffer, c.data.byteOffset, c.data.byteLength);
  return { name: c.name, dataType: ONNX_DTYPE[c.dtype], dims: [...c.dims], rawData: bytes.slice() };
}

export function toModelProto(def: GraphDef): P.IModelProto {
  return {
    irVersion: IR_VERSION,
    producerName: 'lorafuse',
    opsetImport: [{ domain: '', version: def.opset }],
    graph: {
      name: def.name,
      input: [...def.inputs.map(valueInfo), ...def.weights.map(valueInfo)],
      output: def.outputs.map(valueInfo),
      initializer: def.constants.map(tensorProto),
      node: def.nodes.map((n) => ({
        name: n.name,
        opType: n.opType,
        domain: n.domain,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs).map(([k, v]) => attributeProto(k, v)),
      })),
    },
  };
}

/** The ONNX model bytes for `def`, ready for `ort.InferenceSession.create`. */
export function serializeGraph(def: GraphDef): Uint8Array {
  return onnx.ModelProto.encode(toModelProto(def)).finish();
}
