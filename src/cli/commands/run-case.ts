/**
 * `lorafuse run-case CASE.json -o OUT.safetensors [--compare] [--root DIR] [--threads N]`: runs a
 * reference case (tests/fixtures/README.md) on lorafuse's own pipeline (onnxruntime-web, wasm)
 * and writes every output the case lists as `outputs.<name>` (float32). LoRA state ops run on the
 * adapter manager (`managerStateOps`), so every public case runs. `--compare` prints the max abs
 * error of each output against the case's stored outputs and exits 1 when one exceeds the README
 * tolerance (1e-4 forwards, text encoders and combinations, 1e-3 pipelines); where lorafuse
 * deliberately differs from Diffusers (README list) it compares with the stored output that
 * expresses lorafuse's rule, and says so. SVD combination factors are compared after aligning
 * the sign of each singular pair (cases/svd-signs.ts).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-web';
import { caseTolerance, parseCaseJson } from '../../core/cases/case-json.ts';
import { compareOutputs } from '../../core/cases/compare.ts';
import { deliberateDifference } from '../../core/cases/deliberate-differences.ts';
import { runCase } from '../../core/cases/run-case.ts';
import { alignSvdSigns } from '../../core/cases/svd-signs.ts';
import { LocalFolderSource } from '../../core/io/model-source.ts';
import { readSafetensors, type TensorToWrite, writeSafetensors } from '../../core/io/safetensors.ts';
import { managerStateOps } from '../../core/pipeline/adapters/case-state-ops.ts';
import { LorafuseError } from '../../errors.ts';

const USAGE =
  'usage: lorafuse run-case CASE.json [-o OUT.safetensors] [--compare] [--root DIR] [--threads N]';

/** The fixture set's root: the folder holding `cases/` (the case file's parent's parent). */
function defaultRoot(casePath: string): string {
  const dir = dirname(resolve(casePath));
  if (basename(dir) !== 'cases') {
    throw new LorafuseError(
      'invalid-argument',
      `${casePath} is not in a 'cases' folder; pass --root DIR (the folder holding cases/ and models/).`,
      { case: casePath },
    );
  }
  return dirname(dir);
}

async function readJsonFile(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new LorafuseError('config-invalid', `${path}: not valid JSON (${(e as Error).message}).`, {
      file: path,
    });
  }
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      output: { type: 'string', short: 'o' },
      compare: { type: 'boolean', default: false },
      root: { type: 'string' },
      threads: { type: 'string', default: '1' },
    },
  });
  const [casePath] = positionals;
  if (!casePath || positionals.length > 1 || (!values.output && !values.compare)) {
    throw new LorafuseError('invalid-argument', `${USAGE}\n(one case file, and -o and/or --compare)`);
  }
  const threads = Number(values.threads);
  if (!Number.isInteger(threads) || threads < 1) {
    throw new LorafuseError('invalid-argument', `--threads '${values.threads}' is not a positive integer.`, {
      threads: values.threads,
    });
  }
  ort.env.wasm.numThreads = threads;

  const json = parseCaseJson(await readJsonFile(casePath), casePath);
  const root = values.root ?? defaultRoot(casePath);
  const tensorsPath = join(dirname(resolve(casePath)), json.tensors_file);
  const tensors = readSafetensors(new Uint8Array(await readFile(tensorsPath)), tensorsPath);
  const outputs = await runCase(json, {
    root: new LocalFolderSource(resolve(root)),
    tensors,
    stateOps: managerStateOps(),
  });

  if (values.output) {
    const list: TensorToWrite[] = [...outputs].map(([name, t]) => ({
      name: `outputs.${name}`,
      dtype: 'F32',
      shape: t.shape,
      data: t.data,
    }));
    await writeFile(
      values.output,
      writeSafetensors(list, { case: json.case, producer: 'lorafuse run-case' }),
    );
    console.log(`${values.output}: ${list.length} outputs of case ${json.case}`);
  }
  if (!values.compare) return 0;
  const tolerance = caseTolerance(json);
  const aligned = alignSvdSigns(json, outputs, tensors);
  for (const [combo, n] of aligned.negated) {
    if (n > 0) console.log(`${combo}: ${n} singular pair(s) sign-aligned to the reference (B @ A unchanged)`);
  }
  const rows = compareOutputs(
    aligned.outputs,
    tensors,
    tolerance,
    (name) => deliberateDifference(json.case, name)?.reference ?? name,
  );
  const width = Math.max(...rows.map((r) => r.name.length));
  for (const r of rows) {
    const err = Number.isFinite(r.maxAbs) ? r.maxAbs.toExponential(2) : 'inf';
    const against = r.reference
      ? `  vs ${r.reference}: ${deliberateDifference(json.case, r.name)?.why ?? 'deliberate difference'}`
      : '';
    console.log(
      `${r.ok ? 'ok  ' : 'FAIL'} ${r.name.padEnd(width)}  max abs ${err}${against}${r.problem ? `  (${r.problem})` : ''}`,
    );
  }
  const failed = rows.filter((r) => !r.ok).length;
  console.log(
    failed === 0
      ? `${json.case}: all ${rows.length} outputs within ${tolerance}`
      : `${json.case}: ${failed} of ${rows.length} outputs exceed ${tolerance}`,
  );
  return failed === 0 ? 0 : 1;
}
