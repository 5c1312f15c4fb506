/**
 * Every public base case (no LoRA) through the case runner, against the outputs Diffusers stored:
 * UNet forwards (SD1.5, SDXL with added conditioning), the VAE decode, the base part of every
 * text-encoder case (the ops before its first LoRA op), and the base pipelines (Euler g=1 latents,
 * DDIM g=7.5 np image, SDXL Euler g=5 with zero negative embeddings), including each step's
 * latents, the timesteps and the token ids. Tolerances from tests/fixtures/README.md: 1e-4 max
 * abs for forwards and text encoders, 1e-3 for pipelines (float32; the observed errors are ~2e-5).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type CaseJson, caseTolerance, isStateOp, parseCaseJson } from '../../src/core/cases/case-json.ts';
import { compareOutputs } from '../../src/core/cases/compare.ts';
import { runCase } from '../../src/core/cases/run-case.ts';
import { subSource } from '../../src/core/cases/sub-source.ts';
import { LocalFolderSource } from '../../src/core/io/model-source.ts';
import { readSafetensors, type SafetensorsFile } from '../../src/core/io/safetensors.ts';
import { type LoadedModel, loadModel } from '../../src/core/pipeline/model.ts';
import { isLorafuseError } from '../../src/errors.ts';
import { FIXTURES } from './graph-fixtures.ts';

const root = new LocalFolderSource(FIXTURES);

function readCaseFiles(name: string): { json: CaseJson; tensors: SafetensorsFile } {
  const json = parseCaseJson(JSON.parse(readFileSync(join(FIXTURES, 'cases', `${name}.json`), 'utf8')), name);
  const buf = readFileSync(join(FIXTURES, 'cases', json.tensors_file));
  return { json, tensors: readSafetensors(new Uint8Array(buf), json.tensors_file) };
}

async function expectCase(
  json: CaseJson,
  tensors: SafetensorsFile,
  model?: (p: string) => Promise<LoadedModel>,
) {
  const outputs = await runCase(json, { root, tensors, ...(model ? { model } : {}) });
  expect([...outputs.keys()].sort()).toEqual(Object.keys(json.outputs).sort());
  const rows = compareOutputs(outputs, tensors, caseTolerance(json));
  for (const r of rows) console.log(`${json.case} ${r.name}: max abs ${r.maxAbs.toExponential(2)}`);
  expect(rows.filter((r) => !r.ok)).toEqual([]);
  return outputs;
}

const BASE_CASES = [
  'tiny-sd15_unet_base',
  'tiny-sdxl_unet_base',
  'tiny-sd15_vae_decode',
  'tiny-sd15_pipe_euler_g1_latent_base',
  'tiny-sd15_pipe_ddim_g7.5_np_base',
  'tiny-sdxl_pipe_euler_g5_latent_base',
];

describe('base cases through the case runner (model loaded by the runner)', () => {
  for (const name of BASE_CASES) {
    it(name, async () => {
      const { json, tensors } = readCaseFiles(name);
      const outputs = await expectCase(json, tensors);
      if (json.kind === 'pipeline') {
        const steps = (json.ops[0] as { num_inference_steps: number }).num_inference_steps;
        for (let i = 0; i < steps; i++) expect(outputs.has(`out.latents_step${i}`)).toBe(true);
        expect(outputs.has('out.timesteps') && outputs.has('out.prompt_input_ids')).toBe(true);
      }
    });
  }
});

/** The case cut before its first state op, keeping the outputs those ops store. */
function basePrefix(json: CaseJson): CaseJson {
  const firstState = json.ops.findIndex(isStateOp);
  const ops = firstState < 0 ? json.ops : json.ops.slice(0, firstState);
  const produced = new Set(
    ops.flatMap((op) => ('outputs' in op ? Object.values(op.outputs as Record<string, string>) : [])),
  );
  const outputs = Object.fromEntries(Object.entries(json.outputs).filter(([k]) => produced.has(k)));
  return { ...json, ops, outputs };
}

describe('base part of the text-encoder cases', () => {
  const models = new Map<string, Promise<LoadedModel>>();
  const shared = (path: string) => {
    let m = models.get(path);
    if (!m) {
      m = loadModel(subSource(root, path));
      models.set(path, m);
    }
    return m;
  };
  afterAll(async () => {
    for (const m of models.values()) await (await m).release();
  });
  const TE_CASES = [
    'tiny-sd15_te_sd15-diffusers-trainscript',
    'tiny-sd15_te_sd15-peft-metadata',
    'tiny-sd15_te_sd15-kohya',
    'tiny-sd15_te_sd15-dora',
    'tiny-sdxl_te_sdxl-diffusers-trainscript',
    'tiny-sdxl_te_sdxl-kohya',
  ];
  for (const name of TE_CASES) {
    it(name, async () => {
      const { json, tensors } = readCaseFiles(name);
      const prefix = basePrefix(json);
      // SD1.5: one encoder x 3 outputs; SDXL: two encoders.
      expect(Object.keys(prefix.outputs)).toHaveLength(name.startsWith('tiny-sdxl') ? 6 : 3);
      await expectCase(prefix, tensors, shared);
    });
  }
});

describe('state ops without an adapter manager', () => {
  it('a LoRA case fails with not-implemented naming the op', async () => {
    const { json, tensors } = readCaseFiles('tiny-sd15_unet_sd15-kohya');
    const err = await runCase(json, { root, tensors }).catch((e: unknown) => e);
    expect(isLorafuseError(err) && err.code).toBe('not-implemented');
    expect((err as Error).message).toContain('load_lora_weights');
  });
});
