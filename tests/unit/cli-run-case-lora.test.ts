/**
 * Every public case of tests/fixtures/cases/index.json through `lorafuse run-case -o OUT
 * --compare`, in process (`main([...])`; one process for all cases, so onnxruntime-web starts
 * once): the command exits 0, and the outputs it wrote are checked here again, independently of
 * the command's own comparison, against what Diffusers/PEFT stored.
 * Tolerances (fixtures README, "Tolerances"): max abs 1e-4 for forwards, text encoders and the
 * combination cases, 1e-3 for pipeline outputs and images (float32).
 * Where lorafuse deliberately differs from Diffusers (README points 1-2) an output must equal the
 * stored output that expresses lorafuse's rule. SVD combination factors (`*svd`) are unique only
 * up to the sign of each singular pair: each pair must equal the stored one or its negation
 * (row of lora_A and column of lora_B negated together), and scaling * lora_B @ lora_A must
 * equal the stored delta_weight.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { readSafetensors, type SafetensorsFile } from '../../src/core/io/safetensors.ts';

const FIX = join(import.meta.dirname, '..', 'fixtures');
const tmp = mkdtempSync(join(tmpdir(), 'lorafuse-run-case-lora-'));

interface CaseFile {
  case: string;
  kind: string;
  set?: string;
  tensors_file: string;
  outputs: Record<string, unknown>;
  ops: { op: string; combos?: { name: string; combination_type: string }[] }[];
}

const readCase = (name: string): CaseFile =>
  JSON.parse(readFileSync(join(FIX, 'cases', `${name}.json`), 'utf8')) as CaseFile;

const PUBLIC = (JSON.parse(readFileSync(join(FIX, 'cases', 'index.json'), 'utf8')) as { case: string }[])
  .map((c) => c.case)
  .filter((n) => readCase(n).set === 'public');

/** README "Where lorafuse deliberately differs": output -> the stored output it must equal. */
const DELIBERATE: Record<string, Record<string, string>> = {
  'tiny-sd15_unet_fuse_lora_scale': { after_unfuse: 'unfused_1.0' },
  'tiny-sd15_unet_fuse_adapter_names': { a_fused_b_active: 'ab_unfused', a_fused_only_b_set: 'ab_unfused' },
};

function open(path: string): SafetensorsFile {
  return readSafetensors(new Uint8Array(readFileSync(path)), path);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>, sign = 1): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(sign * a[i]! - b[i]!);
    m = Number.isNaN(d) ? Number.POSITIVE_INFINITY : Math.max(m, d);
  }
  return m;
}

/** Worst error over singular pairs, each pair compared with the reference or its negation. */
function svdPairError(mine: SafetensorsFile, ref: SafetensorsFile, combo: string): number {
  const key = (f: string) => `outputs.${combo}.${f}`;
  const a = mine.float32(key('lora_A'));
  const b = mine.float32(key('lora_B'));
  const ra = ref.float32(key('lora_A'));
  const rb = ref.float32(key('lora_B'));
  const r = ref.info(key('lora_A')).shape[0]!;
  expect(mine.info(key('lora_A')).shape).toEqual(ref.info(key('lora_A')).shape);
  expect(mine.info(key('lora_B')).shape).toEqual(ref.info(key('lora_B')).shape);
  const cols = a.length / r;
  const out = b.length / r;
  let worst = 0;
  for (let i = 0; i < r; i++) {
    const rowA = a.subarray(i * cols, (i + 1) * cols);
    const refA = ra.subarray(i * cols, (i + 1) * cols);
    const colB = Float32Array.from({ length: out }, (_, o) => b[o * r + i]!);
    const refB = Float32Array.from({ length: out }, (_, o) => rb[o * r + i]!);
    const pair = (s: number) => Math.max(maxAbsDiff(rowA, refA, s), maxAbsDiff(colB, refB, s));
    worst = Math.max(worst, Math.min(pair(1), pair(-1)));
  }
  return worst;
}

/** scaling * B @ A from the written factors, float64. */
function svdDelta(mine: SafetensorsFile, combo: string): Float64Array {
  const a = mine.float32(`outputs.${combo}.lora_A`);
  const b = mine.float32(`outputs.${combo}.lora_B`);
  const s = mine.float32(`outputs.${combo}.scaling`)[0]!;
  const r = mine.info(`outputs.${combo}.lora_A`).shape[0]!;
  const cols = a.length / r;
  const out = b.length / r;
  const d = new Float64Array(out * cols);
  for (let o = 0; o < out; o++)
    for (let j = 0; j < r; j++) {
      const w = s * b[o * r + j]!;
      for (let c = 0; c < cols; c++) d[o * cols + c]! += w * a[j * cols + c]!;
    }
  return d;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('lorafuse run-case --compare on every public case (in process)', () => {
  it('covers the 39 public cases', () => {
    expect(PUBLIC.length).toBe(39);
  });

  for (const name of PUBLIC) {
    it(name, async () => {
      const c = readCase(name);
      const tol = c.kind === 'pipeline' ? 1e-3 : 1e-4;
      const outPath = join(tmp, `${name}.safetensors`);
      const lines: string[] = [];
      const capture = (...args: unknown[]) => {
        lines.push(args.map(String).join(' '));
      };
      vi.spyOn(console, 'log').mockImplementation(capture);
      vi.spyOn(console, 'error').mockImplementation(capture);
      const code = await main(['run-case', join(FIX, 'cases', `${name}.json`), '-o', outPath, '--compare']);
      const report = lines.join('\n');
      expect(code, report).toBe(0);
      const listed = Object.keys(c.outputs);
      expect(report).toContain(`${name}: all ${listed.length} outputs within ${tol}`);

      const mine = open(outPath);
      const ref = open(join(FIX, 'cases', c.tensors_file));
      expect(mine.names().sort()).toEqual(listed.map((k) => `outputs.${k}`).sort());
      const svd = new Set(
        c.ops.flatMap((op) =>
          (op.combos ?? []).filter((x) => x.combination_type.endsWith('svd')).map((x) => x.name),
        ),
      );
      for (const out of listed) {
        const [combo, factor] = [out.slice(0, out.lastIndexOf('.')), out.slice(out.lastIndexOf('.') + 1)];
        if (svd.has(combo) && (factor === 'lora_A' || factor === 'lora_B')) continue;
        const stored = DELIBERATE[name]?.[out] ?? out;
        expect(mine.info(`outputs.${out}`).shape, out).toEqual(ref.info(`outputs.${stored}`).shape);
        const err = maxAbsDiff(mine.float32(`outputs.${out}`), ref.float32(`outputs.${stored}`));
        expect(err, `${name}: ${out} vs stored ${stored}`).toBeLessThanOrEqual(tol);
      }
      for (const combo of svd) {
        expect(svdPairError(mine, ref, combo), `${combo} factors up to pair signs`).toBeLessThanOrEqual(tol);
        const delta = svdDelta(mine, combo);
        expect(maxAbsDiff(delta, ref.float32(`outputs.${combo}.delta_weight`))).toBeLessThanOrEqual(tol);
      }
    }, 120_000);
  }
});
