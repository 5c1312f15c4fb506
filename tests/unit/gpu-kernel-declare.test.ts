import { describe, expect, it } from 'vitest';
import { type Dispatch, declareKernel } from '../../src/core/gpu/kernel.ts';
import { copyKernel } from '../../src/core/gpu/kernels/copy/copy.ts';
import { mergeLoraKernel } from '../../src/core/gpu/kernels/merge-lora/merge-lora.ts';
import { nonfiniteCheckKernel } from '../../src/core/gpu/kernels/nonfinite-check/nonfinite-check.ts';
import { pipelineKey } from '../../src/core/gpu/pipeline-cache.ts';
import { readWgslInterface } from '../../src/core/gpu/wgsl-interface.ts';

const SOURCE = `
// a header comment with a fake binding: @group(0) @binding(9) var<storage, read> nope: array<u32>;
struct Params {
  n: u32,
  a: f32,
}
const BLOCK: u32 = 4;
override WG: u32;
override TILE: u32 = WG * BLOCK;
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;        // [n]
@group(0) @binding(2) var<storage, read_write> y: array<f32>;  // [n]
@compute @workgroup_size(WG) fn main() {}
`;

const spec = {
  name: 'k',
  source: SOURCE,
  params: { n: 'u32', a: 'f32' },
  bindings: { x: 'read', y: 'read-write' },
  overrides: { WG: 64 },
  consts: { BLOCK: 4 },
  dtypes: { f32: {} },
  dispatch: (): Dispatch => [1],
} as const;

describe('kernel declarations', () => {
  it('the shipped kernels match their WGSL', () => {
    expect(mergeLoraKernel.storage.map((b) => `${b.binding}:${b.name}`)).toEqual([
      '1:w0',
      '2:up',
      '3:scale',
      '4:down',
      '5:w_eff',
    ]);
    expect(nonfiniteCheckKernel.paramsLayout.byteSize).toBe(16);
    expect(copyKernel.entryPoint).toBe('main');
  });

  it('reads the WGSL interface, ignoring comments', () => {
    const w = readWgslInterface(SOURCE);
    expect(w.params).toEqual([
      ['n', 'u32'],
      ['a', 'f32'],
    ]);
    expect(w.bindings.map((b) => `${b.binding} ${b.space} ${b.access} ${b.name}`)).toEqual([
      '0 uniform read params',
      '1 storage read x',
      '2 storage read_write y',
    ]);
    expect(w.overrides).toEqual([
      { name: 'WG', hasDefault: false },
      { name: 'TILE', hasDefault: true },
    ]);
    expect(w.consts).toEqual({ BLOCK: 4 });
  });

  it('accepts a matching declaration', () => {
    expect(declareKernel(spec).storage).toHaveLength(2);
  });

  it.each([
    ['params out of order', { params: { a: 'f32', n: 'u32' } }, /struct Params/],
    ['a param type', { params: { n: 'u32', a: 'u32' } }, /struct Params/],
    ['a binding access', { bindings: { x: 'read', y: 'read' } }, /bindings/],
    ['a missing binding', { bindings: { x: 'read' } }, /bindings/],
    ['an override without value', { overrides: {} }, /override WG has no value/],
    ['an override the shader lacks', { overrides: { WG: 64, NOPE: 1 } }, /no override NOPE/],
    ['a const', { consts: { BLOCK: 8 } }, /const BLOCK/],
  ])('refuses a mismatch: %s', (_, change, message) => {
    const bad = { ...spec, ...change } as unknown as typeof spec;
    expect(() => declareKernel(bad)).toThrow(message);
    try {
      declareKernel(bad);
    } catch (e) {
      expect(e).toMatchObject({ code: 'gpu-kernel', details: { kernel: 'k' } });
    }
  });

  it('keys pipelines by name, dtype and overrides, in any override order', () => {
    expect(pipelineKey('merge-lora', 'f16', { WG_O: 16, R_CHUNK: 8 })).toBe(
      pipelineKey('merge-lora', 'f16', { R_CHUNK: 8, WG_O: 16 }),
    );
    expect(pipelineKey('merge-lora', 'f16', { WG_O: 16 })).not.toBe(
      pipelineKey('merge-lora', 'f32', { WG_O: 16 }),
    );
  });
});
