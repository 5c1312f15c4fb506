/**
 * What a LoRA file holds, for the LoRA panel: the file is parsed and converted into the canonical
 * adapter against a base (DESIGN.md decision 5), then described by counts; no factors are kept.
 * Without a loaded model the base is the built-in family (SD1.5, SD2, SDXL) that maps the most
 * keys, then has the fewest shape disagreements: the same choice as `lorafuse inspect`.
 */
import type { LoraSummary, UNetBlockLayout } from '../../api.ts';
import { LorafuseError } from '../../errors.ts';
import { KNOWN_BASE_NAMES, knownBaseConfigs } from '../graph/config/known-bases.ts';
import type { UNetConfig } from '../graph/config/unet-config.ts';
import { readSafetensors } from '../io/safetensors.ts';
import { type CanonicalAdapter, COMPONENTS, moduleId, type SourceFormat } from '../lora/adapter.ts';
import { type ConvertInput, convertLora, resolveKey } from '../lora/convert.ts';
import { type LoraTarget, loraTarget } from '../lora/target.ts';
import { findShapeMismatches } from '../lora/validate.ts';

const sortedUnique = (xs: number[]): number[] => [...new Set(xs)].sort((a, b) => a - b);

/** `style.safetensors` -> `style`; a URL or a path keeps its last segment only. */
export function fileStem(file: string): string {
  const last = file.split(/[/\\]/).pop() ?? file;
  const name = decodeURIComponent(last.split(/[?#]/)[0] ?? last);
  return name.replace(/\.safetensors$/i, '') || 'lora';
}

/** The built-in bases, as conversion targets. */
export function knownBaseTargets(): LoraTarget[] {
  return KNOWN_BASE_NAMES.map((name) => loraTarget(`${name} (built-in configs)`, knownBaseConfigs(name)));
}

/**
 * The target that maps the most keys, then has the fewest shape mismatches; ties keep the first.
 * Keys are resolved by name first (cheap), so only the targets that tie on names are converted
 * (SD1.5 and SD2 share names and differ in shapes; SDXL is told apart by names alone).
 */
function bestFit(
  input: ConvertInput,
  targets: readonly LoraTarget[],
): { target: LoraTarget; adapter: CanonicalAdapter } {
  const names = input.tensors.names();
  const misses = targets.map((t) => names.filter((k) => 'reason' in resolveKey(k, t)).length);
  const fewest = Math.min(...misses);
  let best: { target: LoraTarget; adapter: CanonicalAdapter; score: [number, number] } | undefined;
  targets.forEach((target, i) => {
    if (misses[i] !== fewest) return;
    const adapter = convertLora(input, target);
    const score: [number, number] = [adapter.unmapped.length, findShapeMismatches(adapter, target).length];
    if (!best || score[0] < best.score[0] || (score[0] === best.score[0] && score[1] < best.score[1])) {
      best = { target, adapter, score };
    }
  });
  if (!best)
    throw new LorafuseError('internal', 'bestFit: no base model configs to resolve LoRA names against');
  return best;
}

function unetBlockLayout(unet: UNetConfig | null): UNetBlockLayout | null {
  if (!unet) return null;
  return {
    down: unet.downBlocks.filter((b) => b.hasAttention).map((b) => b.index),
    mid: (unet.midBlock?.transformers.length ?? 0) > 0,
    up: unet.upBlocks.filter((b) => b.hasAttention).map((b) => b.index),
  };
}

/**
 * Reads `bytes` as a safetensors LoRA and summarizes it. `targets` are the candidate bases
 * (`assumed` says the caller had no model, so the best fit was picked).
 */
export function summarizeLora(
  bytes: Uint8Array,
  file: string,
  targets: readonly LoraTarget[],
  assumed: boolean,
): LoraSummary {
  const st = readSafetensors(bytes, file);
  const input: ConvertInput = { source: file, tensors: st, metadata: st.header.metadata };
  const { target, adapter } = bestFit(input, targets);
  const names = st.names();
  const formats = new Map<SourceFormat, number>();
  for (const m of adapter.modules) formats.set(m.format, (formats.get(m.format) ?? 0) + 1);
  const components: LoraSummary['components'] = [];
  for (const component of COMPONENTS) {
    const mods = adapter.modules.filter((m) => m.component === component);
    if (mods.length === 0) continue;
    components.push({
      component,
      modules: mods.length,
      ranks: sortedUnique(mods.map((m) => m.rank)),
      alphas: sortedUnique(mods.map((m) => m.alpha)),
    });
  }
  return {
    name: fileStem(file),
    file,
    byteSize: bytes.byteLength,
    keys: names.length,
    dtypes: [...new Set(names.map((n) => st.info(n).dtype))].sort(),
    formats: [...formats]
      .map(([format, modules]) => ({ format, modules }))
      .sort((a, b) => b.modules - a.modules || a.format.localeCompare(b.format)),
    kinds: [...new Set(adapter.modules.map((m) => m.kind))],
    ranks: sortedUnique(adapter.modules.map((m) => m.rank)),
    alphas: sortedUnique(adapter.modules.map((m) => m.alpha)),
    dora: adapter.modules.some((m) => m.dora !== undefined),
    components,
    moduleIds: adapter.modules.map(moduleId),
    unmapped: adapter.unmapped.map((u) => ({ key: u.key, reason: u.reason })),
    base: { name: target.name, assumed },
    // Block weights apply to UNet modules: none for a text-encoder-only file.
    unetBlocks: adapter.modules.some((m) => m.component === 'unet') ? unetBlockLayout(target.unet) : null,
    metadata: adapter.metadata,
  };
}
