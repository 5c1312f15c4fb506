/** The graph DSL: scoped weight names, shape inference and its errors, ONNX serialisation. */
import { readFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { parseUNetConfig } from '../../src/core/graph/config/unet-config.ts';
import { GraphBuilder } from '../../src/core/graph/dsl/builder.ts';
import { conv2d, matmul, reshape, transpose } from '../../src/core/graph/dsl/ops.ts';
import { serializeGraph } from '../../src/core/graph/dsl/serialize.ts';
import { conv, linear } from '../../src/core/graph/nets/layers.ts';
import { buildUNetGraph } from '../../src/core/graph/nets/unet.ts';
import { LorafuseError } from '../../src/errors.ts';

const { onnx } = onnxProto;

describe('GraphBuilder', () => {
  it('names weights by the scope path, like state-dict keys', () => {
    const g = new GraphBuilder('t');
    const x = g.input('x', 'float32', ['batch', 'tokens', 8]);
    g.scope('down_blocks', () =>
      g.scope(0, () => g.scope('attentions.1', () => linear(g, x, 'to_q', 8, 4, false))),
    );
    expect(g.finish().weights).toEqual([
      { name: 'down_blocks.0.attentions.1.to_q.weight', dtype: 'float32', shape: [4, 8] },
    ]);
  });

  it('refuses a parameter created twice', () => {
    const g = new GraphBuilder('t');
    g.scope('a', () => g.weight('weight', [1]));
    expect(() => g.scope('a', () => g.weight('weight', [1]))).toThrow(LorafuseError);
  });

  it('infers shapes, symbolic dims included', () => {
    const g = new GraphBuilder('t');
    const x = g.input('x', 'float32', ['batch', 4, 'height', 'width']);
    const y = conv(g, x, 'conv_in', { inChannels: 4, outChannels: 32, kernel: 3 });
    expect(y.shape).toEqual(['batch', 32, 'height', 'width']);
    const down = conv(g, y, 'down', { inChannels: 32, outChannels: 32, kernel: 3, stride: 2, pad: 1 });
    expect(down.shape[1]).toBe(32);
    const t = reshape(g, transpose(g, x, [0, 2, 3, 1]), [0, -1, 4]);
    expect(t.shape).toEqual(['batch', 'height*width', 4]);
    const fixed = g.input('f', 'float32', [2, 6, 5]);
    expect(reshape(g, fixed, [0, -1, 3]).shape).toEqual([2, 10, 3]);
    expect(matmul(g, fixed, g.input('m', 'float32', [5, 7])).shape).toEqual([2, 6, 7]);
  });

  it('fails at build time, naming the module, when channels do not line up', () => {
    const g = new GraphBuilder('t');
    const x = g.input('x', 'float32', ['batch', 4, 'h', 'w']);
    const err = (() => {
      try {
        g.scope('mid_block.resnets.0', () =>
          conv2d(g, x, g.weight('conv1.weight', [8, 5, 3, 3]), null, { pad: 1 }),
        );
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(LorafuseError);
    expect((err as LorafuseError).message).toContain('mid_block.resnets.0');
    expect(() => matmul(g, g.input('a', 'float32', [2, 3]), g.input('b', 'float32', [4, 2]))).toThrow(
      /inner dims/,
    );
    const tokens = g.input('tokens', 'float32', ['batch', 'seq', 8]);
    expect(() => linear(g, tokens, 'proj', 7, 3)).toThrow(/expects 7 features/);
  });
});

/** The decoded model as plain data (`toObject` with defaults and numbers for int64). */
interface ValueInfo {
  name: string;
  type: { tensorType: { elemType: number; shape: { dim: { dimValue: number; dimParam: string }[] } } };
}
interface Decoded {
  opsetImport: { version: number }[];
  graph: {
    input: ValueInfo[];
    output: ValueInfo[];
    initializer: { name: string; dims: number[] }[];
    node: { output: string[] }[];
  };
}

describe('serializeGraph', () => {
  it('writes weights as typed graph inputs and only small constants as initializers', () => {
    const cfg = parseUNetConfig(
      JSON.parse(readFileSync('tests/fixtures/configs/sdxl/unet/config.json', 'utf8')),
    );
    const def = buildUNetGraph(cfg);
    const decoded = onnx.ModelProto.decode(serializeGraph(def));
    const model = onnx.ModelProto.toObject(decoded, {
      longs: Number,
      defaults: true,
      arrays: true,
    }) as Decoded;
    const graph = model.graph;
    expect(model.opsetImport[0]!.version).toBe(def.opset);
    const inputs = new Map(graph.input.map((i) => [i.name, i]));
    const w = inputs.get('down_blocks.1.attentions.0.transformer_blocks.1.attn2.to_k.weight')!;
    expect(w.type.tensorType.shape.dim.map((d) => d.dimValue)).toEqual([640, 2048]);
    expect(w.type.tensorType.elemType).toBe(onnx.TensorProto.DataType.FLOAT);
    expect(inputs.get('sample')!.type.tensorType.shape.dim.map((d) => d.dimParam || d.dimValue)).toEqual([
      'batch',
      4,
      'height',
      'width',
    ]);
    expect(graph.input.length).toBe(def.weights.length + def.inputs.length);
    for (const init of graph.initializer) {
      expect(inputs.has(init.name)).toBe(false);
      expect(init.dims.reduce((a, b) => a * b, 1)).toBeLessThanOrEqual(1024);
    }
    expect(graph.output.map((o) => o.name)).toEqual(['out_sample']);
    const produced = new Set(graph.node.flatMap((n) => n.output));
    expect(produced.has('out_sample')).toBe(true);
  });
});
