/**
 * A compute kernel is declared once: name, WGSL source, compile-time overrides, the `Params`
 * uniform descriptor, storage bindings, the dtypes it is compiled for and how it dispatches.
 * `declareKernel` checks the declaration against the shader text; `launch` is the one way to
 * run a kernel (pipeline from the cache, params packed into a pooled uniform buffer (see
 * uniform-pool.ts), every object labelled `kernel:module`, a buffer bound both for reading and for
 * writing refused).
 */
import { LorafuseError } from '../../errors.ts';
import { pipelineCacheFor } from './pipeline-cache.ts';
import {
  type ParamsLayout,
  type ParamsSpec,
  type ParamValues,
  packParams,
  paramsLayout,
} from './uniform-params.ts';
import { uniformPoolFor } from './uniform-pool.ts';
import { readWgslInterface } from './wgsl-interface.ts';

export { submitEncoders } from './uniform-pool.ts';

/** Storage access of a binding; the `Params` uniform is always binding 0. */
export type BindingAccess = 'read' | 'read-write';
export type BindingsSpec = Readonly<Record<string, BindingAccess>>;
export type OverrideValues = Readonly<Record<string, number>>;

/** The first binding index after the `Params` uniform. */
const FIRST_STORAGE_BINDING = 1;
/** Every device allows at least this many workgroups per dispatch dimension. */
export const MIN_MAX_WORKGROUPS_PER_DIMENSION = 65535;

export type Dispatch = readonly [number, number?, number?];

export interface KernelSpec<
  P extends ParamsSpec,
  B extends BindingsSpec,
  D extends string,
  O extends OverrideValues,
> {
  /** Kernel name, also the folder and file name (`kernels/<name>/<name>.wgsl`). */
  name: string;
  /** WGSL text, imported with `?raw`. */
  source: string;
  entryPoint?: string;
  /** `struct Params` fields in order (binding 0, uniform). */
  params: P;
  /** Storage buffers in binding order starting at 1, with their access. */
  bindings: B;
  /** Compile-time knobs: WGSL `override`s without initializer get these values. */
  overrides: O;
  /** Integer WGSL `const`s the TypeScript side also needs (e.g. a per-thread block); checked. */
  consts?: Readonly<Record<string, number>>;
  /** The dtypes it compiles for, each with the overrides that select it. */
  dtypes: Readonly<Record<D, OverrideValues>>;
  /** Workgroup counts for one launch. */
  dispatch: (params: ParamValues<P>, overrides: O) => Dispatch;
}

export interface Kernel<
  P extends ParamsSpec,
  B extends BindingsSpec,
  D extends string,
  O extends OverrideValues,
> extends KernelSpec<P, B, D, O> {
  entryPoint: string;
  paramsLayout: ParamsLayout;
  /** The storage bindings in order, with their binding index. */
  storage: readonly { name: keyof B & string; binding: number; access: BindingAccess }[];
}

// biome-ignore lint/suspicious/noExplicitAny: a kernel of any shape, for caches and helpers
export type AnyKernel = Kernel<any, any, any, any>;

function declarationError(name: string, problem: string): LorafuseError {
  return new LorafuseError(
    'gpu-kernel',
    `Kernel "${name}": its TypeScript declaration does not match ${name}.wgsl: ${problem}. Fix one side.`,
    { kernel: name },
  );
}

/** Checks the declaration against the WGSL (params, bindings, overrides, consts) and freezes it. */
export function declareKernel<
  P extends ParamsSpec,
  B extends BindingsSpec,
  D extends string,
  O extends OverrideValues,
>(spec: KernelSpec<P, B, D, O>): Kernel<P, B, D, O> {
  const { name } = spec;
  const wgsl = readWgslInterface(spec.source);

  const wantParams = Object.entries(spec.params).map(([k, t]) => `${k}: ${t}`);
  const gotParams = wgsl.params.map(([k, t]) => `${k}: ${t}`);
  if (wantParams.join(', ') !== gotParams.join(', ')) {
    throw declarationError(
      name,
      `struct Params is { ${gotParams.join(', ')} }, expected { ${wantParams.join(', ')} }`,
    );
  }

  const expected = [
    { binding: 0, name: 'params', space: 'uniform', access: 'read' },
    ...Object.entries(spec.bindings).map(([bName, access], i) => ({
      binding: FIRST_STORAGE_BINDING + i,
      name: bName,
      space: 'storage',
      access: access === 'read' ? 'read' : 'read_write',
    })),
  ];
  const fmt = (b: { binding: number; name: string; space: string; access: string }) =>
    `@binding(${b.binding}) var<${b.space}${b.space === 'storage' ? `, ${b.access}` : ''}> ${b.name}`;
  const gotBindings = [...wgsl.bindings].sort((a, b) => a.binding - b.binding).map(fmt);
  const wantBindings = expected.map(fmt);
  if (gotBindings.join('; ') !== wantBindings.join('; ')) {
    throw declarationError(
      name,
      `bindings are [${gotBindings.join('; ')}], expected [${wantBindings.join('; ')}]`,
    );
  }

  const supplied = new Set<string>(Object.keys(spec.overrides));
  for (const d of Object.keys(spec.dtypes)) {
    for (const k of Object.keys(spec.dtypes[d as D])) supplied.add(k);
  }
  for (const o of wgsl.overrides) {
    if (!o.hasDefault && !supplied.has(o.name))
      throw declarationError(name, `override ${o.name} has no value`);
  }
  for (const k of supplied) {
    if (!wgsl.overrides.some((o) => o.name === k))
      throw declarationError(name, `the shader has no override ${k}`);
  }
  for (const [k, v] of Object.entries(spec.consts ?? {})) {
    if (wgsl.consts[k] !== v) throw declarationError(name, `const ${k} is ${wgsl.consts[k]}, expected ${v}`);
  }

  const storage = Object.entries(spec.bindings).map(([bName, access], i) => ({
    name: bName as keyof B & string,
    binding: FIRST_STORAGE_BINDING + i,
    access,
  }));
  return Object.freeze({
    ...spec,
    entryPoint: spec.entryPoint ?? 'main',
    paramsLayout: paramsLayout(spec.params),
    storage,
  });
}

export interface LaunchArgs<
  P extends ParamsSpec,
  B extends BindingsSpec,
  D extends string,
  O extends OverrideValues,
> {
  /** The model module this launch works for (a state-dict key prefix); goes into every label. */
  module: string;
  dtype: D;
  params: ParamValues<P>;
  buffers: { readonly [K in keyof B]: GPUBuffer | GPUBufferBinding };
  /** Overrides replacing the declared ones (each distinct set compiles its own pipeline). */
  overrides?: Partial<O>;
  /**
   * Encode into this encoder; the caller submits it with `submitEncoders`, which returns the
   * launch's params buffer to the pool. Without it, `launch` submits its own.
   */
  encoder?: GPUCommandEncoder;
}

const bufferOf = (b: GPUBuffer | GPUBufferBinding): GPUBuffer => ('buffer' in b ? b.buffer : b);

/** Throws `invalid-argument` when a written binding's buffer is also bound for reading (WebGPU forbids it). */
function checkNoAlias(
  kernel: AnyKernel,
  args: { module: string; buffers: Record<string, GPUBuffer | GPUBufferBinding> },
): void {
  for (const w of kernel.storage) {
    const written = args.buffers[w.name];
    if (w.access !== 'read-write' || !written) continue;
    for (const r of kernel.storage) {
      const read = args.buffers[r.name];
      if (r.access === 'read' && read && bufferOf(read) === bufferOf(written)) {
        throw new LorafuseError(
          'invalid-argument',
          `${kernel.name} on ${args.module}: "${w.name}" and "${r.name}" must be different buffers.`,
          { kernel: kernel.name, module: args.module, written: w.name, read: r.name },
        );
      }
    }
  }
}

/** Runs one kernel: one pipeline per (name, dtype, overrides), never per shape. */
export async function launch<
  P extends ParamsSpec,
  B extends BindingsSpec,
  D extends string,
  O extends OverrideValues,
>(device: GPUDevice, kernel: Kernel<P, B, D, O>, args: LaunchArgs<P, B, D, O>): Promise<void> {
  const label = `${kernel.name}:${args.module}`;
  const overrides = { ...kernel.overrides, ...args.overrides } as O;
  const { pipeline, layout } = await pipelineCacheFor(device).get(kernel, args.dtype, overrides);

  const workgroups = kernel.dispatch(args.params, overrides);
  const maxPerDim = device.limits.maxComputeWorkgroupsPerDimension;
  for (const n of workgroups) {
    if (n !== undefined && !(Number.isInteger(n) && n >= 0 && n <= maxPerDim)) {
      throw new LorafuseError(
        'gpu-kernel',
        `Kernel "${kernel.name}" for ${args.module}: dispatch [${workgroups.join(', ')}] exceeds this ` +
          `device's ${maxPerDim} workgroups per dimension.`,
        { kernel: kernel.name, module: args.module, workgroups },
      );
    }
  }

  checkNoAlias(kernel, args);
  const bytes = packParams(kernel.name, kernel.paramsLayout, args.params);
  const entries: GPUBindGroupEntry[] = [];
  for (const { name, binding } of kernel.storage) {
    const b = args.buffers[name];
    if (!b) {
      throw new LorafuseError(
        'invalid-argument',
        `Kernel "${kernel.name}" for ${args.module}: no buffer "${name}".`,
        {
          kernel: kernel.name,
          module: args.module,
          binding: name,
        },
      );
    }
    entries.push({ binding, resource: 'buffer' in b ? b : { buffer: b } });
  }
  // Taken only now that every check passed: an error above leaves nothing held.
  const pool = uniformPoolFor(device);
  const uniform = pool.take(bytes, label);
  entries.unshift({ binding: 0, resource: { buffer: uniform } });
  const bindGroup = device.createBindGroup({ label, layout, entries });

  const encoder = args.encoder ?? device.createCommandEncoder({ label });
  const pass = encoder.beginComputePass({ label });
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(workgroups[0], workgroups[1] ?? 1, workgroups[2] ?? 1);
  pass.end();
  if (args.encoder) {
    pool.hold(args.encoder, uniform);
  } else {
    device.queue.submit([encoder.finish({ label })]);
    pool.give(uniform);
  }
}
