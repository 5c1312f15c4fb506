/**
 * The case test page: runs a reference case through the core case runner (`runCase`) on
 * onnxruntime-web's WebGPU backend, the fixture set read over HTTP (`./fixtures/`, served next to
 * the page), and sends every output back. Each fixture model is loaded once and reset to its
 * freshly loaded state after every case (model-cache.ts); a case with LoRA state ops gets them
 * from the adapter manager that case-manager.ts chooses, made afresh for the case. Nothing here
 * judges results: tests/e2e/cases-webgpu.test.ts does.
 */
import * as ort from 'onnxruntime-web';
import { isStateOp, parseCaseJson } from '../../src/core/cases/case-json.ts';
import { runCase } from '../../src/core/cases/run-case.ts';
import type { CaseStateOps, CaseTensor } from '../../src/core/cases/state-ops.ts';
import { subSource } from '../../src/core/cases/sub-source.ts';
import { createDevice } from '../../src/core/gpu/device.ts';
import { readSafetensors } from '../../src/core/io/safetensors.ts';
import type { LoadedModel } from '../../src/core/pipeline/model.ts';
import { pageStateOps } from './case-manager.ts';
import type { CaseOutputWire, CaseRunResult, CasesApi } from './cases-api.ts';
import { HttpFolderSource } from './http-source.ts';
import { type CachedModel, ModelCache } from './model-cache.ts';
import { sessionProviders } from './session-providers.ts';

ort.env.wasm.numThreads = 2;

let device: GPUDevice | null = null;
let models: ModelCache | null = null;
const uncaptured: string[] = [];

function backendsOf(model: LoadedModel): Record<string, string> {
  const out: Record<string, string> = { unet: model.unet.backend, vae: model.vae.backend };
  for (const te of model.textEncoders) out[te.name] = te.session.backend;
  return out;
}

const api: CasesApi = {
  async init() {
    const created = await createDevice(navigator.gpu, {
      label: 'lorafuse-cases',
      onUncapturedError: (e) => uncaptured.push(e.message),
    });
    device = created.device;
    models = new ModelCache(device);
    const a = created.status.adapter;
    return `${a.vendor} ${a.architecture} ${a.description}`.trim();
  },

  async run(name, files) {
    if (!device || !models) throw new Error('call init() first');
    const cacheOf = models;
    const root = new HttpFolderSource(new URL('./fixtures/', location.href).href, files);
    const raw: unknown = JSON.parse(await root.readText(`cases/${name}.json`));
    const json = parseCaseJson(raw, name);
    const tensorsPath = `cases/${json.tensors_file}`;
    const tensors = readSafetensors(await root.readBytes(tensorsPath), tensorsPath);

    const phases: Record<string, number> = {};
    const timed = async <T>(phase: string, fn: () => Promise<T>): Promise<T> => {
      const t = performance.now();
      try {
        return await fn();
      } finally {
        phases[phase] = (phases[phase] ?? 0) + performance.now() - t;
      }
    };
    const created = sessionProviders.length;
    let cached: CachedModel | undefined;
    let manager: string | null = null;
    const t0 = performance.now();
    let outputs: Map<string, CaseTensor>;
    // The case's model from the cache (loaded on first use); the page owns it, not runCase.
    const model = async (path: string) => {
      cached = await timed('load model', () => cacheOf.get(path, subSource(root, path)));
      return cached.model;
    };
    const page = json.ops.some(isStateOp) ? pageStateOps(device) : null;
    try {
      if (page) {
        manager = page.kind;
        const inner = page.ops;
        const stateOps: CaseStateOps = {
          apply: (op, ctx) => timed(op.op, () => inner.apply(op, ctx)),
          async withScale(scale, ctx, body) {
            let inBody = 0;
            const out = await timed('scale', () =>
              inner.withScale(scale, ctx, async () => {
                const t = performance.now();
                try {
                  return await body();
                } finally {
                  inBody = performance.now() - t;
                }
              }),
            );
            phases.scale! -= inBody;
            return out;
          },
          fusedWeight: (component, module, ctx) =>
            timed('get_weight', () => inner.fusedWeight(component, module, ctx)),
        };
        outputs = await runCase(raw, { root, tensors, model, stateOps });
      } else {
        outputs = await runCase(raw, { root, tensors, model });
      }
    } finally {
      // The manager's buffers first, then every weight back to the freshly loaded model's.
      page?.release();
      (cached as CachedModel | undefined)?.reset();
    }
    const ms = performance.now() - t0;
    const wire: Record<string, CaseOutputWire> = {};
    for (const [k, t] of outputs) wire[k] = { shape: t.shape, data: Array.from(t.data) };
    const used = cached as CachedModel | undefined;
    const result: CaseRunResult = {
      outputs: wire,
      modelSessionProviders: used ? used.providers : [],
      caseSessionProviders: sessionProviders.slice(created),
      componentBackends: used ? backendsOf(used.model) : {},
      rebound: used ? used.rebound() : [],
      manager,
      ms,
      phases,
    };
    return result;
  },

  uncaptured: () => [...uncaptured],
};

window.cases = api;
document.getElementById('status')!.textContent = 'ready';
