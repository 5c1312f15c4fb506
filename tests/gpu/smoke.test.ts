import { describe, expect, it } from 'vitest';
import { getTestDevice, readBuffer } from './dawn.ts';

describe('Dawn on SwiftShader', () => {
  it('runs a compute shader and matches JS', async () => {
    const device = await getTestDevice();
    const n = 1000;
    const input = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 3);
    const buf = device.createBuffer({
      size: n * 4,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    device.queue.writeBuffer(buf, 0, input);
    const module = device.createShaderModule({
      code: `@group(0) @binding(0) var<storage, read_write> a: array<f32>;
        @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
          if (g.x < arrayLength(&a)) { a[g.x] = fma(a[g.x], 2.0, 1.0); }
        }`,
    });
    const pipeline = device.createComputePipeline({
      layout: 'auto',
      compute: { module, entryPoint: 'main' },
    });
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(
      0,
      device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [{ binding: 0, resource: { buffer: buf } }],
      }),
    );
    pass.dispatchWorkgroups(Math.ceil(n / 64));
    pass.end();
    device.queue.submit([enc.finish()]);
    const out = new Float32Array(await readBuffer(device, buf));
    const expected = input.map((x) => Math.fround(x * 2 + 1));
    expect(Array.from(out)).toEqual(Array.from(expected));
  });
});
