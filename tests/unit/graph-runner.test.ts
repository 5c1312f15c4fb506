/**
 * The ORT session wrapper on a tiny graph with weight inputs (wasm backend in Node): weights are
 * fed as tensors, replaced between runs, and checked by name and shape.
 */
import * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/core/graph/dsl/builder.ts';
import { groupNorm, linear } from '../../src/core/graph/nets/layers.ts';
import { NetworkSession } from '../../src/core/graph/runner/session.ts';
import { LorafuseError } from '../../src/errors.ts';

ort.env.wasm.numThreads = 1;

const f32 = (v: number[], dims: number[]) => new ort.Tensor('float32', Float32Array.from(v), dims);

function tinyLinear() {
  const g = new GraphBuilder('tiny');
  const x = g.input('x', 'float32', ['batch', 3]);
  g.output(
    g.scope('lin', () => linear(g, x, 'proj', 3, 2)),
    'y',
  );
  return g.finish();
}

describe('NetworkSession', () => {
  it('runs y = x W^T + b with weights fed as inputs, and again after W changes', async () => {
    const s = await NetworkSession.create(tinyLinear());
    expect(s.missingWeights()).toEqual(['lin.proj.weight', 'lin.proj.bias']);
    await expect(s.run({ x: f32([1, 2, 3], [1, 3]) })).rejects.toThrow(/weight\(s\) not set/);
    s.setWeight('lin.proj.weight', f32([1, 0, 0, 0, 1, 1], [2, 3]));
    s.setWeight('lin.proj.bias', f32([10, 20], [2]));
    const x = f32([1, 2, 3, -1, -2, -3], [2, 3]);
    expect(Array.from((await s.run({ x })).y!.data as Float32Array)).toEqual([11, 25, 9, 15]);
    s.setWeight('lin.proj.weight', f32([0, 0, 2, 1, 0, 0], [2, 3]));
    expect(Array.from((await s.run({ x })).y!.data as Float32Array)).toEqual([16, 21, 4, 19]);
    await s.release();
  });

  it('refuses unknown weights, wrong shapes and missing inputs', async () => {
    const s = await NetworkSession.create(tinyLinear());
    expect(() => s.setWeight('lin.proj.wieght', f32([0, 0, 0, 0, 0, 0], [2, 3]))).toThrow(LorafuseError);
    expect(() => s.setWeight('lin.proj.weight', f32([0, 0, 0, 0, 0, 0], [3, 2]))).toThrow(
      /must be float32 \[2,3\]/,
    );
    s.setWeight('lin.proj.weight', f32([0, 0, 0, 0, 0, 0], [2, 3]));
    s.setWeight('lin.proj.bias', f32([0, 0], [2]));
    await expect(s.run({})).rejects.toThrow(/input 'x' is missing/);
    await s.release();
  });

  it('GroupNorm through InstanceNormalization matches a direct computation', async () => {
    const g = new GraphBuilder('gn');
    const x = g.input('x', 'float32', ['batch', 4, 'h', 'w']);
    g.output(groupNorm(g, x, 'norm', 2, 4, 1e-5), 'y');
    const s = await NetworkSession.create(g.finish());
    const gamma = [1, 2, 3, 4];
    const beta = [0.5, -0.5, 0, 1];
    s.setWeight('norm.weight', f32(gamma, [4]));
    s.setWeight('norm.bias', f32(beta, [4]));
    const data = Array.from({ length: 4 * 3 * 2 }, (_, i) => Math.sin(i * 1.3) * (i % 5));
    const y = (await s.run({ x: f32(data, [1, 4, 3, 2]) })).y!.data as Float32Array;
    // Reference: groups of 2 channels x 6 pixels, biased variance, then per-channel affine.
    for (let grp = 0; grp < 2; grp++) {
      const vals = data.slice(grp * 12, grp * 12 + 12);
      const mean = vals.reduce((a, b) => a + b, 0) / 12;
      const variance = vals.reduce((a, b) => a + (b - mean) ** 2, 0) / 12;
      for (let i = 0; i < 12; i++) {
        const c = grp * 2 + Math.floor(i / 6);
        const want = ((vals[i]! - mean) / Math.sqrt(variance + 1e-5)) * gamma[c]! + beta[c]!;
        expect(Math.abs(y[grp * 12 + i]! - want)).toBeLessThan(1e-5);
      }
    }
    await s.release();
  });
});
