/**
 * `lorafuse merge` end to end (spawning `node bin/lorafuse.js merge`, the way users run it) on
 * the LoRA files of the PEFT `add_weighted_adapter` fixture cases: the written PEFT file's delta
 * for the recorded layer, alpha/r · B·A read from the file and its `lora_adapter_metadata`,
 * equals PEFT's `delta_weight`. Tolerances as in lora-combine-fixtures.test.ts: 1e-5 x max |ref|
 * for the factor-wise types, 1e-4 x max |ref| for SVD types (torch float32 LAPACK vs float64).
 * Also: the rank refusal and its exit status, and options errors.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseWeighted } from '../../src/cli/commands/merge.ts';
import { readSafetensors } from '../../src/core/io/safetensors.ts';
import { FIX, get, loadWeightedCase, matmulRef, maxAbs, maxAbsDiff } from './lora-combine-helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'lorafuse-merge-'));
const BASE = `${FIX}/models/tiny-sd15`;

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/lorafuse.js', 'merge', ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** alpha/r · B·A of one module of a PEFT file, with r and alpha from its metadata. */
function fileDelta(path: string, module: string): { delta: Float64Array; rank: number; alpha: number } {
  const f = readSafetensors(new Uint8Array(readFileSync(path)), path);
  const a = f.float32(`unet.${module}.lora_A.weight`);
  const b = f.float32(`unet.${module}.lora_B.weight`);
  const aShape = f.info(`unet.${module}.lora_A.weight`).shape;
  const bShape = f.info(`unet.${module}.lora_B.weight`).shape;
  const cfg = JSON.parse(f.header.metadata.lora_adapter_metadata ?? '{}');
  const rank = cfg['unet.rank_pattern']?.[module] ?? cfg['unet.r'];
  const alpha = cfg['unet.alpha_pattern']?.[module] ?? cfg['unet.lora_alpha'];
  expect(aShape[0]).toBe(rank);
  expect(bShape[1]).toBe(rank);
  const cols = a.length / rank;
  const delta = matmulRef(b, a, bShape[0]!, rank, cols);
  for (let i = 0; i < delta.length; i++) delta[i]! *= alpha / rank;
  return { delta, rank, alpha };
}

for (const name of [
  'tiny-sd15_peft_add_weighted_adapter_same_rank',
  'tiny-sd15_peft_add_weighted_adapter_mixed_rank',
]) {
  describe(`lorafuse merge: ${name}`, () => {
    const c = loadWeightedCase(name);
    const files = c.sources.map((s) => `${FIX}/${s.repo}/${s.weight_name}`);
    for (const combo of c.combos) {
      const expected = c.peftResults[combo.name]!;
      const out = join(tmp, `${name}-${combo.name}.safetensors`);
      const args = [
        ...files.map((f, i) => `${f}:${combo.weights[i]}`),
        '--method',
        combo.combination_type,
        ...(combo.density === undefined ? [] : ['--density', String(combo.density)]),
        ...(combo.majority_sign_method ? ['--majority-sign', combo.majority_sign_method] : []),
        ...(combo.svd_rank === undefined ? [] : ['--svd-rank', String(combo.svd_rank)]),
        '--base',
        BASE,
        '-o',
        out,
      ];
      if (expected.error) {
        it(`${combo.name}: exits 1 naming the files and ranks`, () => {
          const r = cli(args);
          expect(r.status).toBe(1);
          expect(r.stderr).toContain('[invalid-argument]');
          for (const f of files) expect(r.stderr).toContain(f);
          expect(r.stderr).toMatch(/rank 2\).*rank 8\)/);
        });
        continue;
      }
      it(`${combo.name} (${combo.combination_type})`, () => {
        const r = cli(args);
        expect(r.stderr).toBe('');
        expect(r.status).toBe(0);
        const { delta, rank, alpha } = fileDelta(out, c.layer);
        expect(rank).toBe(expected.r);
        expect(alpha).toBe(expected.lora_alpha);
        const ref = get(c, `${combo.name}.delta_weight`).data;
        const tol = combo.combination_type.endsWith('svd') ? 1e-4 : 1e-5;
        expect(maxAbsDiff(delta, ref)).toBeLessThanOrEqual(tol * maxAbs(ref));
      }, 60_000);
    }
  });
}

describe('lorafuse merge arguments', () => {
  it('parses path[:weight]', () => {
    expect(parseWeighted('a.safetensors')).toEqual({ file: 'a.safetensors', weight: 1 });
    expect(parseWeighted('a.safetensors:-0.5')).toEqual({ file: 'a.safetensors', weight: -0.5 });
    expect(parseWeighted('C:\\x\\a.safetensors')).toEqual({ file: 'C:\\x\\a.safetensors', weight: 1 });
    expect(() => parseWeighted('a.safetensors:abc')).toThrow(/must be a number/);
  });

  it('refuses ties without --density and an unknown method', () => {
    const c = loadWeightedCase('tiny-sd15_peft_add_weighted_adapter_same_rank');
    const files = c.sources.map((s) => `${FIX}/${s.repo}/${s.weight_name}`);
    const out = join(tmp, 'refused.safetensors');
    const r = cli([...files, '--method', 'ties', '--base', BASE, '-o', out]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/\[invalid-argument\].*density/);
    const r2 = cli([...files, '--method', 'average', '--base', BASE, '-o', out]);
    expect(r2.status).toBe(1);
    expect(r2.stderr).toMatch(/\[invalid-argument\].*'average'/);
  }, 60_000);
});
