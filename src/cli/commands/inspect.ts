/**
 * `lorafuse inspect FILE [--base DIR] [--json]`: what a LoRA file holds, per module: format,
 * component, kind, rank, alpha, DoRA; the keys that map to nothing, with the reason; NaN/Inf
 * factors; and, with `--base`, shape validation against that model (a config-only folder is
 * enough). Without `--base` the module names are resolved against the built-in SD1.5, SD2.x and
 * SDXL configs, and the best fit is reported as assumed. A readable file exits 0 whatever it holds.
 *
 * `--base` is a local folder or a Hub repo id (openBaseModel: only the configs are read, so a
 * Hub base costs a few small downloads; HF_TOKEN and HF_ENDPOINT are honoured).
 */
import { parseArgs } from 'node:util';
import { KNOWN_BASE_NAMES, knownBaseConfigs } from '../../core/graph/config/known-bases.ts';
import { type CanonicalAdapter, COMPONENTS, type Component, moduleId } from '../../core/lora/adapter.ts';
import { type ConvertInput, convertLora } from '../../core/lora/convert.ts';
import { detectFormats } from '../../core/lora/detect.ts';
import { type LoraTarget, loraTarget } from '../../core/lora/target.ts';
import {
  findNonFinite,
  findShapeMismatches,
  type NonFinite,
  type ShapeMismatch,
} from '../../core/lora/validate.ts';
import { LorafuseError } from '../../errors.ts';
import { openBaseModel } from '../base-model.ts';
import { readLoraInput } from '../lora-file.ts';

const USAGE = 'usage: lorafuse inspect FILE [--base DIR_OR_REPO] [--json]';

export interface InspectReport {
  file: string;
  keys: number;
  formats: { format: string; keys: number }[];
  base: { name: string; assumed: boolean };
  modules: number;
  components: Partial<
    Record<Component, { modules: number; ranks: number[]; alphas: number[]; kinds: string[] }>
  >;
  ranks: number[];
  alphas: number[];
  moduleList: {
    id: string;
    component: Component;
    module: string;
    kind: string;
    format: string;
    rank: number;
    alpha: number;
    dora?: { axis: string; style: string };
    keys: string[];
  }[];
  unmapped: { key: string; reason: string }[];
  nonFinite: NonFinite[];
  /** Only with --base: shape disagreements with that model (empty: the LoRA fits). */
  validation: { ok: boolean; shapeMismatches: ShapeMismatch[] } | null;
  metadata: Record<string, string>;
}

const sortedUnique = (xs: number[]): number[] => [...new Set(xs)].sort((a, b) => a - b);

/** Without a base: the built-in family whose names and shapes fit the file best. */
function bestKnownBase(input: ConvertInput): { target: LoraTarget; adapter: CanonicalAdapter } {
  let best: { target: LoraTarget; adapter: CanonicalAdapter; score: [number, number] } | undefined;
  for (const name of KNOWN_BASE_NAMES) {
    const target = loraTarget(`${name} (built-in configs)`, knownBaseConfigs(name));
    const adapter = convertLora(input, target);
    const score: [number, number] = [adapter.unmapped.length, findShapeMismatches(adapter, target).length];
    if (!best || score[0] < best.score[0] || (score[0] === best.score[0] && score[1] < best.score[1])) {
      best = { target, adapter, score };
    }
  }
  if (!best) throw new LorafuseError('internal', 'no built-in base configs');
  return best;
}

export function buildReport(
  input: ConvertInput,
  adapter: CanonicalAdapter,
  target: LoraTarget,
  assumed: boolean,
): InspectReport {
  const keys = input.tensors.names();
  const components: InspectReport['components'] = {};
  for (const c of COMPONENTS) {
    const mods = adapter.modules.filter((m) => m.component === c);
    if (mods.length === 0) continue;
    components[c] = {
      modules: mods.length,
      ranks: sortedUnique(mods.map((m) => m.rank)),
      alphas: sortedUnique(mods.map((m) => m.alpha)),
      kinds: [...new Set(mods.map((m) => m.kind))],
    };
  }
  return {
    file: input.source,
    keys: keys.length,
    formats: detectFormats(keys),
    base: { name: target.name, assumed },
    modules: adapter.modules.length,
    components,
    ranks: sortedUnique(adapter.modules.map((m) => m.rank)),
    alphas: sortedUnique(adapter.modules.map((m) => m.alpha)),
    moduleList: adapter.modules.map((m) => ({
      id: moduleId(m),
      component: m.component,
      module: m.module,
      kind: m.kind,
      format: m.format,
      rank: m.rank,
      alpha: m.alpha,
      ...(m.dora ? { dora: { axis: m.dora.axis, style: m.dora.style } } : {}),
      keys: m.sourceKeys,
    })),
    unmapped: adapter.unmapped.map((u) => ({ key: u.key, reason: u.reason })),
    nonFinite: findNonFinite(adapter),
    validation: assumed
      ? null
      : (() => {
          const shapeMismatches = findShapeMismatches(adapter, target);
          return { ok: shapeMismatches.length === 0, shapeMismatches };
        })(),
    metadata: adapter.metadata,
  };
}

function printText(r: InspectReport): void {
  const lines: string[] = [];
  lines.push(`${r.file}: ${r.keys} keys, ${r.modules} modules`);
  lines.push(
    `formats: ${r.formats.map((f) => `${f.format} (${f.keys} keys)`).join(', ') || 'none recognised'}`,
  );
  lines.push(
    `base: ${r.base.name}${r.base.assumed ? ' (assumed: no --base given; best fit of the built-in configs)' : ''}`,
  );
  for (const [c, s] of Object.entries(r.components)) {
    lines.push(
      `  ${c}: ${s.modules} modules, kinds ${s.kinds.join('/')}, ranks ${s.ranks.join('/')}, alphas ${s.alphas.join('/')}`,
    );
  }
  lines.push('modules:');
  for (const m of r.moduleList) {
    const dora = m.dora ? ` dora(${m.dora.style}, ${m.dora.axis})` : '';
    lines.push(`  ${m.id}  ${m.kind}  ${m.format}  rank ${m.rank}  alpha ${m.alpha}${dora}`);
  }
  lines.push(`unmapped keys: ${r.unmapped.length}`);
  for (const u of r.unmapped) lines.push(`  ${u.key}: ${u.reason}`);
  if (r.nonFinite.length > 0) {
    lines.push(`NaN/Inf values in ${r.nonFinite.length} factors:`);
    for (const n of r.nonFinite) lines.push(`  ${n.module} ${n.factor}: ${n.count} values`);
  }
  if (r.validation) {
    if (r.validation.ok) lines.push(`shapes: every module fits ${r.base.name}`);
    else {
      lines.push(
        `shapes: ${r.validation.shapeMismatches.length} mismatches with ${r.base.name} (lora-shape-mismatch):`,
      );
      for (const s of r.validation.shapeMismatches) {
        lines.push(`  ${s.module}: ${s.what} [${s.loraShape.join(',')}] vs base [${s.baseShape.join(',')}]`);
      }
    }
  }
  console.log(lines.join('\n'));
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { base: { type: 'string' }, json: { type: 'boolean', default: false } },
  });
  const [file] = positionals;
  if (!file || positionals.length > 1) {
    throw new LorafuseError('invalid-argument', `${USAGE}\n(exactly one LoRA file)`);
  }
  const input = await readLoraInput(file);
  let report: InspectReport;
  if (values.base) {
    const { target } = await openBaseModel(values.base);
    report = buildReport(input, convertLora(input, target), target, false);
  } else {
    const best = bestKnownBase(input);
    report = buildReport(input, best.adapter, best.target, true);
  }
  if (values.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else printText(report);
  return 0;
}
