/**
 * The networks on onnxruntime-web's WebGPU backend in Chromium (SwiftShader), with every weight in
 * a GPUBuffer we own on our own device, against Diffusers' / transformers' outputs: the tiny-sd15
 * and tiny-sdxl UNets, the text encoders (every text-encoder case, one session per network) and
 * the VAE decoder, within 1e-4 max abs (fixtures README: forwards and text encoders, float32).
 * Then a weight rewritten in its GPUBuffer (queue.writeBuffer) between two runs of the SAME session
 * moves the output exactly as a CPU computation predicts, with no session or tensor re-created.
 * Then the wasm fallback: in a Chromium without WebGPU, `probeWebGpu` picks 'wasm' and the same
 * runner gives the same outputs from CPU tensors. float16 weights: SwiftShader has no shader-f16,
 * so `chooseWeightDtype` keeps float32 on WebGPU here; the float16 graph runs on wasm in Chromium.
 *
 * No compute node may run on the CPU: ORT's node placement log (session log level 0) may show on
 * the CPU only the integer shape arithmetic ORT keeps there by design (Shape -> Slice/Gather/Cast/
 * Concat on shape vectors), and no Memcpy node (no tensor crosses devices inside a run).
 *
 * The page (tests/browser/numeric.html) is built with Vite the way the app is, so onnxruntime-web's
 * wasm is located the way it is in dist/; the fixtures are served next to it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-web';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseClipTextConfig } from '../../src/core/graph/config/clip-config.ts';
import { parseUNetConfig } from '../../src/core/graph/config/unet-config.ts';
import { parseVaeConfig } from '../../src/core/graph/config/vae-config.ts';
import type { GraphDef } from '../../src/core/graph/dsl/builder.ts';
import { buildClipTextGraph } from '../../src/core/graph/nets/clip.ts';
import { buildUNetGraph } from '../../src/core/graph/nets/unet.ts';
import { buildVaeDecoderGraph } from '../../src/core/graph/nets/vae.ts';
import { type Backend, NetworkSession } from '../../src/core/graph/runner/session.ts';
import { f16ToF32, f32ToF16 } from '../../src/core/io/safetensors.ts';
import { type BuiltPage, buildNumericPage } from '../browser/build-page.ts';
import type { Component, InitResult, OpenResult, RunResult, WireTensor } from '../browser/numeric-api.ts';
import {
  caseTensor,
  componentWeights,
  type FixtureCase,
  maxAbsDiff,
  readCase,
  readJson,
} from '../numeric/graph-fixtures.ts';
import { launchBrowser, openPage, type PageProblem, RESULTS_DIR } from './browser.ts';
import { type StaticServer, serveStatic } from './static-server.ts';

const TOL = 1e-4;

// ---------------------------------------------------------------------------------------------
// Node side: inputs from the fixture cases, the ORT placement log, a report

function wire(t: ort.Tensor, type: WireTensor['type'] = 'float32'): WireTensor {
  return { type, dims: [...t.dims], data: Array.from(t.data as Float32Array) };
}

interface UnetOp {
  timestep: number;
  added_cond_kwargs?: { text_embeds: string; time_ids: string };
}

function unetInputs(fx: FixtureCase): Record<string, WireTensor> {
  const op = (fx.json as unknown as { ops: UnetOp[] }).ops[0]!;
  const inputs: Record<string, WireTensor> = {
    sample: wire(caseTensor(fx, 'inputs.sample')),
    timestep: { type: 'float32', dims: [1], data: [op.timestep] },
    encoder_hidden_states: wire(caseTensor(fx, 'inputs.encoder_hidden_states')),
  };
  if (op.added_cond_kwargs) {
    inputs.text_embeds = wire(caseTensor(fx, `inputs.${op.added_cond_kwargs.text_embeds}`));
    inputs.time_ids = wire(caseTensor(fx, `inputs.${op.added_cond_kwargs.time_ids}`));
  }
  return inputs;
}

function graphOf(model: string, component: Component): GraphDef {
  const cfg = readJson(`models/${model}/${component}/config.json`);
  if (component === 'unet') return buildUNetGraph(parseUNetConfig(cfg));
  if (component === 'vae') return buildVaeDecoderGraph(parseVaeConfig(cfg));
  return buildClipTextGraph(parseClipTextConfig(cfg));
}

interface PlacedNode {
  op: string;
  name: string;
}

/** ORT's "Node placements" block (session log level 0): execution provider -> nodes. */
function parsePlacements(log: readonly string[]): Map<string, PlacedNode[]> {
  const out = new Map<string, PlacedNode[]>();
  let current: PlacedNode[] | null = null;
  for (const line of log) {
    if (!line.includes('VerifyEachNodeIsAssignedToAnEp]')) continue;
    const text = line.slice(line.indexOf('VerifyEachNodeIsAssignedToAnEp]') + 31);
    const head = /(?:All nodes|Node\(s\)) placed on \[(\w+)\]/.exec(text);
    if (head) {
      current = [];
      out.set(head[1]!, current);
      continue;
    }
    const node = /^\s+(\S+) \((.*)\)\s*$/.exec(text);
    if (node && current) current.push({ op: node[1]!, name: node[2]! });
  }
  return out;
}

/** Integer shape-vector ops ORT keeps on the CPU by design (or lacks int64 WebGPU kernels for). */
const SHAPE_OPS = new Set(['Shape', 'Gather', 'Slice', 'Concat', 'Cast', 'Unsqueeze', 'Squeeze']);

/**
 * Values computed from shapes and constants only, never from tensor contents: constants, Shape
 * outputs, and outputs of nodes whose inputs are all such values.
 */
function shapeOnlyValues(def: GraphDef): Set<string> {
  const known = new Set<string>(def.constants.map((c) => c.name));
  for (const n of def.nodes) {
    const fromShape = n.opType === 'Shape' || n.inputs.every((i) => i === '' || known.has(i));
    if (fromShape) for (const o of n.outputs) known.add(o);
  }
  return known;
}

/** The CPU nodes that are not shape arithmetic (must be none), and whether the log had placements. */
function cpuComputeNodes(
  def: GraphDef,
  log: readonly string[],
): { found: boolean; bad: string[]; cpu: number } {
  const placed = parsePlacements(log);
  const bad: string[] = [];
  for (const [, nodes] of placed) {
    for (const n of nodes) if (n.op.startsWith('Memcpy')) bad.push(`${n.op} (${n.name})`);
  }
  const cpu = placed.get('CPUExecutionProvider') ?? [];
  const byName = new Map(def.nodes.map((n) => [n.name, n]));
  const shapeOnly = shapeOnlyValues(def);
  for (const n of cpu) {
    const mine = byName.get(n.name);
    const ok = mine
      ? SHAPE_OPS.has(n.op) && mine.inputs.every((i) => i === '' || shapeOnly.has(i))
      : SHAPE_OPS.has(n.op);
    if (!ok) bad.push(`${n.op} (${n.name})`);
  }
  return { found: placed.size > 0, bad, cpu: cpu.length };
}

interface ReportRow {
  backend: Backend;
  case: string;
  output: string;
  maxAbs: number;
  createMs: number;
  loadMs: number;
  runMs: number;
  downloadMs: number;
  cpuShapeNodes: number;
}
const report: ReportRow[] = [];

function writeReport(): void {
  if (report.length === 0) return;
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, 'numeric-webgpu.json'), `${JSON.stringify(report, null, 2)}\n`);
  const rows = report.map(
    (r) =>
      `${r.backend.padEnd(6)} ${`${r.case} ${r.output}`.padEnd(70)} max abs ${r.maxAbs.toExponential(2)}  ` +
      `create ${r.createMs.toFixed(0)} ms, load ${r.loadMs.toFixed(0)} ms, run ${r.runMs.toFixed(0)} ms, ` +
      `download ${r.downloadMs.toFixed(0)} ms, CPU shape nodes ${r.cpuShapeNodes}`,
  );
  console.log(`numeric results (also in ${join(RESULTS_DIR, 'numeric-webgpu.json')}):\n${rows.join('\n')}`);
}

// ---------------------------------------------------------------------------------------------
// Browser side

let built: BuiltPage;
let server: StaticServer;

async function openNumericPage(browser: Browser): Promise<{ page: Page; problems: PageProblem[] }> {
  const opened = await openPage(browser);
  await opened.page.goto(`${server.url}numeric.html`);
  await opened.page.waitForFunction(() => document.getElementById('status')?.textContent === 'ready', null, {
    timeout: 60_000,
  });
  return opened;
}

const pageOpen = (page: Page, model: string, component: Component, backend: Backend): Promise<OpenResult> =>
  page.evaluate(([m, c, b]) => window.numeric!.open(m, c, b), [model, component, backend] as const);

const pageRun = (page: Page, id: number, inputs: Record<string, WireTensor>): Promise<RunResult> =>
  page.evaluate(([i, x]) => window.numeric!.run(i, x), [id, inputs] as const);

/** Opens a network, checks its placements, runs each case and compares `pairs` of outputs. */
async function checkNetwork(
  page: Page,
  backend: Backend,
  model: string,
  component: Component,
  runs: { name: string; inputs: Record<string, WireTensor>; expect: [mine: string, key: string][] }[],
): Promise<void> {
  const def = graphOf(model, component);
  const opened = await pageOpen(page, model, component, backend);
  const placement = cpuComputeNodes(def, opened.log);
  expect(placement.found, `${model} ${component}: ORT printed no node placements`).toBe(true);
  if (backend === 'webgpu') {
    expect(placement.bad, `${model} ${component}: nodes on the CPU or copies between devices`).toEqual([]);
  } else {
    expect([...parsePlacements(opened.log).keys()]).toEqual(['CPUExecutionProvider']);
  }
  const fx = new Map<string, FixtureCase>();
  for (const r of runs) {
    const out = await pageRun(page, opened.id, r.inputs);
    for (const [name, location] of Object.entries(out.locations)) {
      expect(location, `${name} location`).toBe(backend === 'webgpu' ? 'gpu-buffer' : 'cpu');
    }
    if (!fx.has(r.name)) fx.set(r.name, readCase(r.name));
    for (const [mine, key] of r.expect) {
      const expected = caseTensor(fx.get(r.name)!, key);
      const got = out.outputs[mine]!;
      expect(got.dims, `${r.name} ${mine}`).toEqual(expected.dims);
      const err = maxAbsDiff(got.data, expected.data as Float32Array);
      report.push({
        backend,
        case: r.name,
        output: mine,
        maxAbs: err,
        createMs: opened.createMs,
        loadMs: opened.loadMs,
        runMs: out.runMs,
        downloadMs: out.downloadMs,
        cpuShapeNodes: placement.cpu,
      });
      expect(err, `${r.name} ${mine}`).toBeLessThanOrEqual(TOL);
    }
  }
  await page.evaluate((i) => window.numeric!.close(i), opened.id);
}

const UNET_CASES = [
  ['tiny-sd15', 'tiny-sd15_unet_base'],
  ['tiny-sdxl', 'tiny-sdxl_unet_base'],
] as const;

/** Every text-encoder case of tests/numeric/graph-clip.test.ts: base outputs of each component. */
const TE_CASES: { model: string; component: Component; ids: string; cases: string[] }[] = [
  {
    model: 'tiny-sd15',
    component: 'text_encoder',
    ids: 'input_ids',
    cases: ['sd15-kohya', 'sd15-peft-metadata', 'sd15-diffusers-trainscript', 'sd15-dora'].map(
      (l) => `tiny-sd15_te_${l}`,
    ),
  },
  ...(['text_encoder', 'text_encoder_2'] as const).map((component) => ({
    model: 'tiny-sdxl',
    component,
    ids: component === 'text_encoder' ? 'input_ids' : 'input_ids_2',
    cases: ['sdxl-kohya', 'sdxl-diffusers-trainscript'].map((l) => `tiny-sdxl_te_${l}`),
  })),
];

function teRuns(te: (typeof TE_CASES)[number]) {
  return te.cases.map((name) => {
    const fx = readCase(name);
    const pooled = te.component === 'text_encoder_2' ? 'text_embeds' : 'pooler_output';
    return {
      name,
      inputs: { input_ids: wire(caseTensor(fx, `inputs.${te.ids}`), 'int32') },
      expect: [
        ['last_hidden_state', `outputs.base.${te.component}.last_hidden_state`],
        ['penultimate_hidden_state', `outputs.base.${te.component}.penultimate_hidden_state`],
        [pooled, `outputs.base.${te.component}.pooled`],
      ] as [string, string][],
    };
  });
}

function unetRun(name: string) {
  return {
    name,
    inputs: unetInputs(readCase(name)),
    expect: [['out_sample', 'outputs.out']] as [string, string][],
  };
}

function vaeRun() {
  const name = 'tiny-sd15_vae_decode';
  return {
    name,
    inputs: { latent_sample: wire(caseTensor(readCase(name), 'inputs.latents')) },
    expect: [['sample', 'outputs.out']] as [string, string][],
  };
}

beforeAll(async () => {
  built = await buildNumericPage();
  server = await serveStatic(built.dir, '/numeric/');
});

afterAll(async () => {
  writeReport();
  await server?.close();
});

describe('numeric page build', () => {
  it("emits onnxruntime-web's WebGPU (JSEP) wasm as an asset", () => {
    expect(built.wasm.some((f) => /^ort-wasm-simd-threaded\.jsep-[\w-]+\.wasm$/.test(f))).toBe(true);
  });
});

describe('networks on WebGPU in Chromium (SwiftShader), weights in our GPUBuffers, vs diffusers', () => {
  let browser: Browser;
  let page: Page;
  let problems: PageProblem[];
  let init: InitResult;

  beforeAll(async () => {
    browser = await launchBrowser();
    ({ page, problems } = await openNumericPage(browser));
    init = await page.evaluate(() => window.numeric!.init('webgpu'));
    expect(init.adapter).toMatch(/swiftshader/i);
  });

  it('chooseWeightDtype keeps float32 weights: SwiftShader has no shader-f16', () => {
    expect(init.shaderF16).toBe(false);
    expect(init.weightDtype).toBe('float32');
  });

  afterAll(async () => {
    await browser?.close();
  });

  for (const [model, name] of UNET_CASES) {
    it(`${name} UNet`, async () => {
      await checkNetwork(page, 'webgpu', model, 'unet', [unetRun(name)]);
    });
  }

  for (const te of TE_CASES) {
    it(`${te.model} ${te.component}: ${te.cases.length} prompts through one session`, async () => {
      await checkNetwork(page, 'webgpu', te.model, te.component, teRuns(te));
    });
  }

  it('tiny-sd15_vae_decode VAE decoder', async () => {
    await checkNetwork(page, 'webgpu', 'tiny-sd15', 'vae', [vaeRun()]);
  });

  it('VAE decoder.conv_out.bias rewritten in its GPUBuffer: channel 1 moves by exactly the change, the rest stays bit-identical, nothing re-created', async () => {
    const opened = await pageOpen(page, 'tiny-sd15', 'vae', 'webgpu');
    const id = opened.id;
    const input = vaeRun().inputs;
    const before = (await pageRun(page, id, input)).outputs.sample!;
    const idBefore = await page.evaluate((i) => window.numeric!.identity(i), id);
    expect(idBefore.ortSessionId).not.toBeNull();
    expect(idBefore.weightsUnchanged).toBe(true);

    const key = 'decoder.conv_out.bias';
    const bias = await page.evaluate(([i, k]) => window.numeric!.readWeight(i, k), [id, key] as const);
    expect(bias).toEqual(Array.from(componentWeights('tiny-sd15', 'vae').float32(key)));
    const delta = 0.375;
    const changed = bias.map((b, c) => (c === 1 ? Math.fround(b + delta) : b));
    await page.evaluate(([i, k, v]) => window.numeric!.writeWeight(i, k, v), [id, key, changed] as const);
    const after = (await pageRun(page, id, input)).outputs.sample!;
    const idAfter = await page.evaluate((i) => window.numeric!.identity(i), id);
    expect(idAfter).toEqual(idBefore);

    const [, channels, h, w] = before.dims as [number, number, number, number];
    const plane = h * w;
    for (let c = 0; c < channels; c++) {
      const got = after.data.slice(c * plane, (c + 1) * plane);
      const old = before.data.slice(c * plane, (c + 1) * plane);
      const predicted = old.map((x) => (c === 1 ? x + (changed[1]! - bias[1]!) : x));
      // conv output = sum + bias: the sum is unchanged, one float32 rounding (values below 4: < 5e-7).
      expect(maxAbsDiff(got, predicted), `channel ${c}`).toBeLessThanOrEqual(c === 1 ? 1e-6 : 0);
    }

    // Writing the original values back restores the original output bit for bit.
    await page.evaluate(([i, k, v]) => window.numeric!.writeWeight(i, k, v), [id, key, bias] as const);
    const restored = (await pageRun(page, id, input)).outputs.sample!;
    expect(maxAbsDiff(restored.data, before.data)).toBe(0);
    expect(await page.evaluate((i) => window.numeric!.identity(i), id)).toEqual(idBefore);
    await page.evaluate((i) => window.numeric!.close(i), id);
  });

  it('CLIP text_projection.weight rewritten in its GPUBuffer: text_embeds move by pooled @ dW^T, same session', async () => {
    const cfg = parseClipTextConfig(readJson('models/tiny-sdxl/text_encoder_2/config.json'));
    const opened = await pageOpen(page, 'tiny-sdxl', 'text_encoder_2', 'webgpu');
    const id = opened.id;
    const fx = readCase('tiny-sdxl_te_sdxl-kohya');
    const idsTensor = caseTensor(fx, 'inputs.input_ids_2');
    const inputs = { input_ids: wire(idsTensor, 'int32') };
    const before = (await pageRun(page, id, inputs)).outputs;
    const idBefore = await page.evaluate((i) => window.numeric!.identity(i), id);

    const key = 'text_projection.weight';
    const w0 = await page.evaluate(([i, k]) => window.numeric!.readWeight(i, k), [id, key] as const);
    const [out, inp] = [cfg.projectionDim, cfg.hiddenSize];
    // A deterministic, independent change: dW[o][i] = sin(o * 7 + i) / 8.
    const w1 = w0.map((x, k) => Math.fround(x + Math.sin(Math.floor(k / inp) * 7 + (k % inp)) / 8));
    await page.evaluate(([i, k, v]) => window.numeric!.writeWeight(i, k, v), [id, key, w1] as const);
    const after = (await pageRun(page, id, inputs)).outputs;
    expect(await page.evaluate((i) => window.numeric!.identity(i), id)).toEqual(idBefore);

    // pooled = last_hidden_state at the first EOS token; the last hidden state does not depend on W.
    const eos = Array.from(idsTensor.data as Float32Array).indexOf(cfg.eosTokenId);
    expect(eos).toBeGreaterThan(0);
    const lhs = after.last_hidden_state!.data;
    expect(maxAbsDiff(lhs, before.last_hidden_state!.data)).toBe(0);
    const pooled = lhs.slice(eos * inp, (eos + 1) * inp);
    const predicted = Array.from({ length: out }, (_, o) =>
      pooled.reduce((s, p, i) => s + p * w1[o * inp + i]!, 0),
    );
    const got = after.text_embeds!.data;
    const moved = maxAbsDiff(got, before.text_embeds!.data);
    const err = maxAbsDiff(got, predicted);
    console.log(
      `text_projection rewrite on WebGPU: moved ${moved.toFixed(3)}, error vs CPU ${err.toExponential(2)}`,
    );
    expect(moved).toBeGreaterThan(0.1);
    // float32 dot products of length hiddenSize against a float64 sum.
    expect(err).toBeLessThanOrEqual(1e-5);
    await page.evaluate((i) => window.numeric!.close(i), id);
  });

  it('logged no console errors or uncaught exceptions', () => {
    expect(problems).toEqual([]);
  });
});

describe('wasm fallback in a Chromium without WebGPU: the same runner, CPU tensors', () => {
  let browser: Browser;
  let page: Page;
  let problems: PageProblem[];

  beforeAll(async () => {
    browser = await launchBrowser({ webgpu: false });
    ({ page, problems } = await openNumericPage(browser));
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('probeWebGpu picks wasm, and says why', async () => {
    const picked = await page.evaluate(() => window.numeric!.pickBackend());
    expect(picked.backend).toBe('wasm');
    expect(picked.reason).toMatch(/no GPU adapter/);
  });

  it('tiny-sd15_unet_base UNet on wasm', async () => {
    await checkNetwork(page, 'wasm', 'tiny-sd15', 'unet', [unetRun('tiny-sd15_unet_base')]);
  });

  it('tiny-sdxl text_encoder_2 on wasm', async () => {
    await checkNetwork(page, 'wasm', 'tiny-sdxl', 'text_encoder_2', teRuns(TE_CASES[2]!));
  });

  it('tiny-sd15_vae_decode on wasm', async () => {
    await checkNetwork(page, 'wasm', 'tiny-sd15', 'vae', [vaeRun()]);
  });

  it('tiny-sd15_vae_decode on wasm with float16 weights = the float32 graph on f16-rounded weights (Node)', async () => {
    const opened = await page.evaluate(([m, c, b, d]) => window.numeric!.open(m, c, b, undefined, d), [
      'tiny-sd15',
      'vae',
      'wasm',
      'float16',
    ] as const);
    const run = vaeRun();
    const got = (await pageRun(page, opened.id, run.inputs)).outputs.sample!;
    await page.evaluate((i) => window.numeric!.close(i), opened.id);
    // Independent: Node's wasm, the float32 graph, every weight rounded to f16 and back on the CPU.
    const def = graphOf('tiny-sd15', 'vae');
    const file = componentWeights('tiny-sd15', 'vae');
    const ref = await NetworkSession.create(def);
    for (const w of def.weights) {
      ref.setWeight(
        w.name,
        new ort.Tensor('float32', f16ToF32(f32ToF16(file.float32(w.name))), [...w.shape]),
      );
    }
    const latents = caseTensor(readCase(run.name), 'inputs.latents');
    const expected = (await ref.run({ latent_sample: latents })).sample!.data as Float32Array;
    await ref.release();
    const err = maxAbsDiff(got.data, expected);
    const vsDiffusers = maxAbsDiff(
      got.data,
      caseTensor(readCase(run.name), 'outputs.out').data as Float32Array,
    );
    console.log(
      `VAE, f16 weights on wasm in Chromium: ${err.toExponential(2)} vs f16-rounded f32 graph, ${vsDiffusers.toExponential(2)} vs Diffusers`,
    );
    // Compute is float32 in both: float32 noise only (tests/numeric/graph-f16.test.ts).
    expect(err).toBeLessThanOrEqual(1e-5);
    // The premise: f16 rounding is visible (a float32-weights run would be off by ~1e-3 here).
    expect(vsDiffusers).toBeGreaterThan(1e-4);
  });

  it('logged no console errors or uncaught exceptions', () => {
    expect(problems).toEqual([]);
  });
});
