/**
 * The numeric test page: builds a fixture network from its config.json, loads its weights (GPU
 * buffers on our device for 'webgpu', CPU tensors for 'wasm'), runs it with inputs sent by the Node
 * side and sends the outputs back. Fixture files come over HTTP from `./fixtures/` (the test serves
 * tests/fixtures there). Nothing here judges results: tests/e2e/numeric-webgpu.test.ts does.
 */
import * as ort from 'onnxruntime-web';
import { createDevice, probeWebGpu } from '../../src/core/gpu/device.ts';
import { parseClipTextConfig } from '../../src/core/graph/config/clip-config.ts';
import { parseUNetConfig } from '../../src/core/graph/config/unet-config.ts';
import { parseVaeConfig } from '../../src/core/graph/config/vae-config.ts';
import type { GraphDef } from '../../src/core/graph/dsl/builder.ts';
import { buildClipTextGraph } from '../../src/core/graph/nets/clip.ts';
import { buildUNetGraph } from '../../src/core/graph/nets/unet.ts';
import { buildVaeDecoderGraph } from '../../src/core/graph/nets/vae.ts';
import { downloadOutput, NetworkSession } from '../../src/core/graph/runner/session.ts';
import { chooseWeightDtype, type WeightDType } from '../../src/core/graph/runner/weight-dtype.ts';
import { weightBuffersFromSafetensors, weightsFromSafetensors } from '../../src/core/graph/runner/weights.ts';
import { bufferSource, openSafetensors, readSafetensors } from '../../src/core/io/safetensors.ts';
import { HttpFolderSource } from './http-source.ts';
import type {
  Component,
  IdentityResult,
  NumericApi,
  OpenResult,
  RunResult,
  WireTensor,
} from './numeric-api.ts';
import { sessionProviders } from './session-providers.ts';

// Two wasm threads (the page is cross-origin isolated): the wasm fallback runs threaded, as the app
// does on machines with 4+ cores, which needs onnxruntime-web in its own chunk (build-page.ts).
ort.env.wasm.numThreads = 2;

let device: GPUDevice | null = null;

interface OpenNetwork {
  session: NetworkSession;
  buffers: Map<string, GPUBuffer>;
  /** The tensor set for each weight when the network was opened. */
  tensors: Map<string, ort.Tensor>;
}
const networks = new Map<number, OpenNetwork>();
let nextId = 1;

/** The fixture files the test serves next to the page (read by path; nothing lists them). */
const fixtures = new HttpFolderSource(new URL('./fixtures/', location.href).href, []);

function buildGraph(component: Component, config: unknown, weightDType: WeightDType): GraphDef {
  if (component === 'unet') return buildUNetGraph(parseUNetConfig(config), { weightDType });
  if (component === 'vae') return buildVaeDecoderGraph(parseVaeConfig(config), { weightDType });
  return buildClipTextGraph(parseClipTextConfig(config), { weightDType });
}

/**
 * ORT's wasm module binds the console methods when it starts, so the hook is installed once, before
 * ORT loads, and lines go to `sink` while a capture runs (and to the real console otherwise).
 */
let sink: string[] | null = null;
for (const m of ['log', 'info', 'warn', 'error', 'debug'] as const) {
  const original = console[m].bind(console);
  console[m] = (...args: unknown[]) => {
    if (sink) sink.push(args.map(String).join(' '));
    else original(...args);
  };
}

/** Runs `fn` while recording what is printed (ORT's log). */
async function capturingConsole<T>(fn: () => Promise<T>): Promise<{ value: T; log: string[] }> {
  const log: string[] = [];
  sink = log;
  try {
    return { value: await fn(), log };
  } finally {
    sink = null;
  }
}

function network(id: number): OpenNetwork {
  const n = networks.get(id);
  if (!n) throw new Error(`no open network ${id}`);
  return n;
}

function toOrt(t: WireTensor): ort.Tensor {
  return t.type === 'int32'
    ? new ort.Tensor('int32', Int32Array.from(t.data), t.dims)
    : new ort.Tensor('float32', Float32Array.from(t.data), t.dims);
}

/** The first `count` floats of `src` (a weight buffer may be padded past its data). */
async function readBuffer(dev: GPUDevice, src: GPUBuffer, count: number): Promise<Float32Array> {
  const staging = dev.createBuffer({
    label: `read ${src.label}`,
    size: src.size,
    usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ,
  });
  const enc = dev.createCommandEncoder();
  enc.copyBufferToBuffer(src, 0, staging, 0, src.size);
  dev.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(staging.getMappedRange().slice(0, count * 4));
  staging.destroy();
  return out;
}

const api: NumericApi = {
  async pickBackend() {
    const status = await probeWebGpu(navigator.gpu);
    return status.available ? { backend: 'webgpu', reason: '' } : { backend: 'wasm', reason: status.reason };
  },

  async init(backend) {
    if (backend === 'wasm') return { backend, adapter: '' };
    device ??= (await createDevice(navigator.gpu, { label: 'lorafuse-numeric' })).device;
    const info = (device as { adapterInfo?: GPUAdapterInfo }).adapterInfo;
    return {
      backend,
      adapter: `${info?.vendor ?? ''} ${info?.architecture ?? ''} ${info?.description ?? ''}`,
      shaderF16: device.features.has('shader-f16'),
      weightDtype: chooseWeightDtype(device),
    };
  },

  async open(model, component, backend, optimization, weightDtype = 'float32'): Promise<OpenResult> {
    const def = buildGraph(
      component,
      JSON.parse(await fixtures.readText(`models/${model}/${component}/config.json`)),
      weightDtype,
    );
    const file = component.startsWith('text_encoder')
      ? 'model.safetensors'
      : 'diffusion_pytorch_model.safetensors';
    const path = `models/${model}/${component}/${file}`;
    const t0 = performance.now();
    const { value: session, log } = await capturingConsole(() =>
      backend === 'webgpu'
        ? NetworkSession.create(def, { backend, device: device!, logSeverityLevel: 0, optimization })
        : NetworkSession.create(def, { backend: 'wasm', logSeverityLevel: 0, optimization }),
    );
    const t1 = performance.now();
    const bytes = await fixtures.readBytes(path);
    const buffers = new Map<string, GPUBuffer>();
    if (backend === 'webgpu') {
      const reader = await openSafetensors(bufferSource(bytes, path));
      for (const [k, b] of await weightBuffersFromSafetensors(def, reader, device!)) {
        buffers.set(k, b);
        session.setWeightBuffer(k, b, weightDtype);
      }
    } else {
      for (const [k, t] of weightsFromSafetensors(def, readSafetensors(bytes, path)).tensors)
        session.setWeight(k, t);
    }
    const tensors = new Map(def.weights.map((w) => [w.name, session.getWeight(w.name)!]));
    const id = nextId++;
    networks.set(id, { session, buffers, tensors });
    return {
      id,
      nodes: def.nodes.length,
      weights: def.weights.length,
      createMs: t1 - t0,
      loadMs: performance.now() - t1,
      log,
    };
  },

  async run(id, inputs): Promise<RunResult> {
    const { session } = network(id);
    const feeds = Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, toOrt(t)]));
    const t0 = performance.now();
    const out = await session.run(feeds);
    const t1 = performance.now();
    const outputs: Record<string, WireTensor> = {};
    const locations: Record<string, string> = {};
    for (const [k, t] of Object.entries(out)) {
      locations[k] = t.location;
      outputs[k] = { type: 'float32', dims: [...t.dims], data: Array.from(await downloadOutput(t)) };
    }
    return { outputs, locations, runMs: t1 - t0, downloadMs: performance.now() - t1 };
  },

  async readWeight(id, name) {
    const n = network(id);
    const buffer = n.buffers.get(name);
    const spec = n.session.def.weights.find((w) => w.name === name)!;
    const count = spec.shape.reduce((a, b) => a * b, 1);
    if (buffer) return Array.from(await readBuffer(device!, buffer, count));
    return Array.from(n.session.getWeight(name)!.data as Float32Array);
  },

  async writeWeight(id, name, values) {
    const n = network(id);
    const data = Float32Array.from(values);
    const buffer = n.buffers.get(name);
    if (buffer) {
      device!.queue.writeBuffer(buffer, 0, data);
      return;
    }
    const old = n.session.getWeight(name)!;
    n.session.setWeight(name, new ort.Tensor('float32', data, old.dims));
  },

  identity(id): IdentityResult {
    const n = network(id);
    const handler = (n.session as unknown as { session: { handler?: { sessionId?: unknown } } }).session
      .handler;
    const sid = handler?.sessionId;
    let weightsUnchanged = true;
    for (const [k, t] of n.tensors) {
      const now = n.session.getWeight(k);
      const buffer = n.buffers.get(k);
      if (now !== t || (buffer && now.gpuBuffer !== buffer)) weightsUnchanged = false;
    }
    return {
      sessionCreates: sessionProviders.length,
      ortSessionId: typeof sid === 'number' ? sid : null,
      weightsUnchanged,
    };
  },

  async runModel(model, feeds, backend) {
    const session = await ort.InferenceSession.create(Uint8Array.from(model), {
      executionProviders: [backend],
    });
    try {
      const out = await session.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, toOrt(t)])));
      const result: Record<string, WireTensor> = {};
      for (const [k, t] of Object.entries(out)) {
        result[k] = {
          type: 'float32',
          dims: [...t.dims],
          data: Array.from((await t.getData()) as Float32Array),
        };
      }
      return result;
    } finally {
      await session.release();
    }
  },

  async close(id) {
    const n = network(id);
    await n.session.release();
    for (const b of n.buffers.values()) b.destroy();
    networks.delete(id);
  },
};

window.numeric = api;
document.getElementById('status')!.textContent = 'ready';
