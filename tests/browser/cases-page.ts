/**
 * The case test page: runs a reference case through the core case runner (`runCase`) on
 * onnxruntime-web's WebGPU backend, the fixture set read over HTTP (`./fixtures/`, served next to
 * the page), and sends every output back. Nothing here judges results:
 * tests/e2e/cases-webgpu.test.ts does.
 */
import * as ort from 'onnxruntime-web';
import { runCase } from '../../src/core/cases/run-case.ts';
import type { CaseStateOps } from '../../src/core/cases/state-ops.ts';
import { subSource } from '../../src/core/cases/sub-source.ts';
import { createDevice } from '../../src/core/gpu/device.ts';
import type { NetworkSessionOptions } from '../../src/core/graph/runner/session.ts';
import { readSafetensors } from '../../src/core/io/safetensors.ts';
import { managerStateOps } from '../../src/core/pipeline/adapters/case-state-ops.ts';
import { type LoadedModel, loadModel } from '../../src/core/pipeline/model.ts';
import type { CaseOutputWire, CaseRunResult, CasesApi } from './cases-api.ts';
import { HttpFolderSource } from './http-source.ts';
import { sessionProviders } from './session-providers.ts';

ort.env.wasm.numThreads = 2;

let device: GPUDevice | null = null;

function backendsOf(model: LoadedModel): Record<string, string> {
  const out: Record<string, string> = { unet: model.unet.backend, vae: model.vae.backend };
  for (const te of model.textEncoders) out[te.name] = te.session.backend;
  return out;
}

const api: CasesApi = {
  async init() {
    const created = await createDevice(navigator.gpu, { label: 'lorafuse-cases' });
    device = created.device;
    const a = created.status.adapter;
    return `${a.vendor} ${a.architecture} ${a.description}`.trim();
  },

  async run(name, files, lora) {
    if (!device) throw new Error('call init() first');
    const root = new HttpFolderSource(new URL('./fixtures/', location.href).href, files);
    const json = JSON.parse(await root.readText(`cases/${name}.json`)) as { tensors_file: string };
    const tensorsPath = `cases/${json.tensors_file}`;
    const tensors = readSafetensors(await root.readBytes(tensorsPath), tensorsPath);
    const session: NetworkSessionOptions = { backend: 'webgpu', device };
    let componentBackends: Record<string, string> = {};
    sessionProviders.length = 0;
    const t0 = performance.now();
    let outputs: Map<string, { shape: number[]; data: Float32Array }>;
    if (lora) {
      // State ops change the model, so runCase loads (and releases) it; the backends are read
      // from the model the state ops see.
      const inner = managerStateOps();
      const stateOps: CaseStateOps = {
        async apply(op, ctx) {
          componentBackends = backendsOf(await ctx.model());
          return inner.apply(op, ctx);
        },
        withScale: (scale, ctx, body) => inner.withScale(scale, ctx, body),
        fusedWeight: (component, module, ctx) => inner.fusedWeight(component, module, ctx),
      };
      outputs = await runCase(json, { root, tensors, session, stateOps });
    } else {
      let loaded: LoadedModel | undefined;
      try {
        outputs = await runCase(json, {
          root,
          tensors,
          model: async (path) => {
            loaded = await loadModel(subSource(root, path), { session });
            componentBackends = backendsOf(loaded);
            return loaded;
          },
        });
      } finally {
        await loaded?.release();
      }
    }
    const ms = performance.now() - t0;
    const wire: Record<string, CaseOutputWire> = {};
    for (const [k, t] of outputs) wire[k] = { shape: t.shape, data: Array.from(t.data) };
    const result: CaseRunResult = {
      outputs: wire,
      sessionProviders: [...sessionProviders],
      componentBackends,
      ms,
    };
    return result;
  },
};

window.cases = api;
document.getElementById('status')!.textContent = 'ready';
