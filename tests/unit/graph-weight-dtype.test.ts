/**
 * float16 weights: which dtype is chosen for which backend and device, where the Cast to float32
 * sits in the built graphs (every weight input float16 and consumed by one Cast and nothing else),
 * and how the runner takes weights of the session's dtype (float32 CPU tensors rounded to f16,
 * GPU buffers of the wrong dtype refused). Numbers on the real networks: tests/numeric/graph-f16.test.ts.
 */
import * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import type { WebGpuStatus } from '../../src/core/gpu/device.ts';
import { parseClipTextConfig } from '../../src/core/graph/config/clip-config.ts';
import { parseUNetConfig } from '../../src/core/graph/config/unet-config.ts';
import { parseVaeConfig } from '../../src/core/graph/config/vae-config.ts';
import { GraphBuilder, type GraphDef, type WeightDType } from '../../src/core/graph/dsl/builder.ts';
import { ONNX_DTYPE } from '../../src/core/graph/dsl/ops.ts';
import { toModelProto } from '../../src/core/graph/dsl/serialize.ts';
import { buildClipTextGraph } from '../../src/core/graph/nets/clip.ts';
import { linear } from '../../src/core/graph/nets/layers.ts';
import { buildUNetGraph } from '../../src/core/graph/nets/unet.ts';
import { buildVaeDecoderGraph } from '../../src/core/graph/nets/vae.ts';
import { NetworkSession } from '../../src/core/graph/runner/session.ts';
import { chooseWeightDtype, weightDtypeOf } from '../../src/core/graph/runner/weight-dtype.ts';
import { weightsFromSafetensors } from '../../src/core/graph/runner/weights.ts';
import { f16ToF32, f32ToF16, readSafetensors, writeSafetensors } from '../../src/core/io/safetensors.ts';
import { LorafuseError } from '../../src/errors.ts';
import { readJson } from '../numeric/graph-fixtures.ts';

ort.env.wasm.numThreads = 1;

const status = (shaderF16: boolean): WebGpuStatus => ({
  available: true,
  adapter: { vendor: 'v', architecture: 'a', device: 'd', description: '' },
  features: shaderF16 ? ['shader-f16'] : [],
  limits: {},
  shaderF16,
});

/** Stands in for a GPUDevice / GPUBuffer where only features / size and usage are read. */
const fakeDevice = (features: string[]) =>
  ({ features: new Set(features), label: 'fake' }) as unknown as GPUDevice;
const fakeBuffer = (size: number) => ({ size, usage: 0x80, label: 'fake' }) as unknown as GPUBuffer;

function thrown(fn: () => unknown): LorafuseError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(LorafuseError);
    return e as LorafuseError;
  }
  throw new Error('expected a LorafuseError');
}

describe('chooseWeightDtype', () => {
  it('picks float16 only for WebGPU with shader-f16', () => {
    expect(chooseWeightDtype(status(true))).toBe('float16');
    expect(chooseWeightDtype(fakeDevice(['shader-f16', 'timestamp-query']))).toBe('float16');
  });

  it('picks float32 without shader-f16 (SwiftShader), without WebGPU, on wasm, and for a bare backend name', () => {
    expect(chooseWeightDtype(status(false))).toBe('float32');
    expect(chooseWeightDtype(fakeDevice([]))).toBe('float32');
    expect(chooseWeightDtype({ available: false, reason: 'no WebGPU' })).toBe('float32');
    expect(chooseWeightDtype('wasm')).toBe('float32');
    expect(chooseWeightDtype('webgpu')).toBe('float32');
  });
});

const configs = {
  unet: (m: string) => parseUNetConfig(readJson(`models/${m}/unet/config.json`)),
  te: (m: string, c: string) => parseClipTextConfig(readJson(`models/${m}/${c}/config.json`)),
};

const NETWORKS: [string, (dtype: WeightDType) => GraphDef][] = [
  ['tiny-sd15 unet', (d) => buildUNetGraph(configs.unet('tiny-sd15'), { weightDType: d })],
  ['tiny-sdxl unet', (d) => buildUNetGraph(configs.unet('tiny-sdxl'), { weightDType: d })],
  [
    'tiny-sd15 text_encoder',
    (d) => buildClipTextGraph(configs.te('tiny-sd15', 'text_encoder'), { weightDType: d }),
  ],
  [
    'tiny-sdxl text_encoder_2',
    (d) => buildClipTextGraph(configs.te('tiny-sdxl', 'text_encoder_2'), { weightDType: d }),
  ],
  [
    'tiny-sd15 vae',
    (d) =>
      buildVaeDecoderGraph(parseVaeConfig(readJson('models/tiny-sd15/vae/config.json')), { weightDType: d }),
  ],
];

describe('float16 weight inputs in the built graphs', () => {
  for (const [name, build] of NETWORKS) {
    it(`${name}: every weight input is float16 and consumed only by a Cast to float32`, () => {
      const half = build('float16');
      const full = build('float32');
      expect(weightDtypeOf(half)).toBe('float16');
      expect(weightDtypeOf(full)).toBe('float32');
      expect(half.weights.map((w) => [w.name, w.shape])).toEqual(full.weights.map((w) => [w.name, w.shape]));
      const consumers = new Map<string, (typeof half.nodes)[number][]>();
      for (const n of half.nodes)
        for (const i of n.inputs) consumers.set(i, [...(consumers.get(i) ?? []), n]);
      for (const w of half.weights) {
        expect(w.dtype, w.name).toBe('float16');
        const uses = consumers.get(w.name) ?? [];
        expect(uses.length, `${w.name} consumers`).toBe(1);
        const cast = uses[0]!;
        expect([cast.opType, cast.domain, cast.inputs], w.name).toEqual(['Cast', '', [w.name]]);
        expect(cast.attrs.to).toEqual({ kind: 'int', value: ONNX_DTYPE.float32 });
      }
      expect(half.outputs.map((o) => o.name)).toEqual(full.outputs.map((o) => o.name));
      // One Cast per weight and nothing else added; the float32 graph feeds weights directly.
      expect(half.nodes.length).toBe(full.nodes.length + full.weights.length);
      const fullWeights = new Set(full.weights.map((w) => w.name));
      expect(full.nodes.filter((n) => n.opType === 'Cast' && fullWeights.has(n.inputs[0]!))).toEqual([]);
      // The ONNX model declares the weight inputs FLOAT16, the run-time inputs as before.
      const inputs = new Map(
        toModelProto(half).graph!.input!.map((i) => [i.name!, i.type!.tensorType!.elemType]),
      );
      for (const w of half.weights) expect(inputs.get(w.name), w.name).toBe(ONNX_DTYPE.float16);
      for (const i of half.inputs) expect(inputs.get(i.name), i.name).toBe(ONNX_DTYPE[i.dtype]);
    });
  }
});

/** y = x W^T + b with W [2, 3], b [2]. */
function tinyLinear(dtype: WeightDType): GraphDef {
  const g = new GraphBuilder('tiny', { weightDType: dtype });
  const x = g.input('x', 'float32', ['batch', 3]);
  g.output(
    g.scope('lin', () => linear(g, x, 'proj', 3, 2)),
    'y',
  );
  return g.finish();
}

describe('NetworkSession with float16 weights', () => {
  it('rounds a float32 CPU tensor to f16 and computes in float32 with the rounded weights', async () => {
    const s = await NetworkSession.create(tinyLinear('float16'));
    expect(s.weightDtype).toBe('float16');
    const w = Float32Array.of(0.1, -0.2, 0.3, 1 / 3, 2 / 3, -1e-5);
    const b = Float32Array.of(0.7, -0.9);
    s.setWeight('lin.proj.weight', new ort.Tensor('float32', w, [2, 3]));
    s.setWeight('lin.proj.bias', new ort.Tensor('float32', b, [2]));
    const stored = s.getWeight('lin.proj.weight')!;
    expect(stored.type).toBe('float16');
    expect(Array.from(stored.data as Uint16Array)).toEqual(Array.from(f32ToF16(w)));
    const x = Float32Array.of(1.5, -2.25, 3.125);
    const out = (await s.run({ x: new ort.Tensor('float32', x, [1, 3]) })).y!.data as Float32Array;
    // Independent: float64 dot products of the f16-rounded weights (x is exact in f16 and f32).
    const [wr, br] = [f16ToF32(f32ToF16(w)), f16ToF32(f32ToF16(b))];
    const expected = [0, 1].map((o) => br[o]! + [0, 1, 2].reduce((a, i) => a + x[i]! * wr[o * 3 + i]!, 0));
    for (const o of [0, 1]) expect(out[o]).toBeCloseTo(expected[o]!, 6);
    // The premise: rounding moved the weights (0.1 is not a half).
    expect(wr[0]).not.toBe(w[0]);
    await s.release();
  });

  it('refuses tensors and GPU buffers of the wrong dtype, saying what to upload', async () => {
    const half = await NetworkSession.create(tinyLinear('float16'));
    const gpu32 = ort.Tensor.fromGpuBuffer(fakeBuffer(32), { dataType: 'float32', dims: [2, 3] });
    const e1 = thrown(() => half.setWeight('lin.proj.weight', gpu32));
    expect(e1.code).toBe('invalid-argument');
    expect(e1.message).toMatch(
      /float32 \(gpu-buffer\), but this session takes float16 weights.*'f16-packed'/,
    );
    const e2 = thrown(() => half.setWeightBuffer('lin.proj.weight', fakeBuffer(16)));
    expect(e2.message).toMatch(/holds float32, but this session takes float16/);
    await half.release();

    const full = await NetworkSession.create(tinyLinear('float32'));
    const cpu16 = new ort.Tensor('float16', new Uint16Array(6), [2, 3]);
    const e3 = thrown(() => full.setWeight('lin.proj.weight', cpu16));
    expect(e3.code).toBe('invalid-argument');
    expect(e3.message).toMatch(/is float16 \(cpu\), but this session takes float32 weights/);
    const e4 = thrown(() => full.setWeightBuffer('lin.proj.weight', fakeBuffer(32), 'float16'));
    expect(e4.message).toMatch(/holds float16, but this session takes float32/);
    await full.release();
  });

  it('refuses a WebGPU session for float16 weights on a device without shader-f16', async () => {
    const err = await NetworkSession.create(tinyLinear('float16'), {
      backend: 'webgpu',
      device: fakeDevice([]),
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LorafuseError);
    expect((err as LorafuseError).code).toBe('invalid-argument');
    expect((err as LorafuseError).message).toMatch(/no 'shader-f16' feature.*chooseWeightDtype\(device\)/);
  });
});

describe('weightsFromSafetensors for a float16 graph', () => {
  it('keeps F16 data bit for bit and rounds F32 data to nearest even', () => {
    const def = tinyLinear('float16');
    const wHalf = f32ToF16(Float32Array.of(0.1, -0.2, 0.3, 65504, -6e-8, 1e-3));
    const b = Float32Array.of(0.7, 1 + 2 ** -11); // the second is a tie: rounds to even (1)
    const bytes = writeSafetensors([
      { name: 'lin.proj.weight', dtype: 'F16', shape: [2, 3], data: wHalf },
      { name: 'lin.proj.bias', dtype: 'F32', shape: [2], data: b },
    ]);
    const { tensors } = weightsFromSafetensors(def, readSafetensors(bytes, 'tiny.safetensors'));
    const w = tensors.get('lin.proj.weight')!;
    const bias = tensors.get('lin.proj.bias')!;
    expect([w.type, w.dims, bias.type, bias.dims]).toEqual(['float16', [2, 3], 'float16', [2]]);
    expect(Array.from(w.data as Uint16Array)).toEqual(Array.from(wHalf));
    expect(Array.from(f16ToF32(bias.data as Uint16Array))).toEqual([f16ToF32(f32ToF16(b))[0], 1]);
  });
});
