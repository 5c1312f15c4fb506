/**
 * PEFT `LoraConfig` fields that set alpha and rank per module (LORA-FORMATS.md 3.8): from the
 * safetensors header entry `lora_adapter_metadata` (keys prefixed by component: `unet.r`,
 * `unet.lora_alpha`, `unet.alpha_pattern`, ...) or from a raw PEFT `adapter_config.json`.
 * Patterns are matched to module names as PEFT's `get_pattern_key` does: the first pattern `p`
 * (in config order) for which `^(.*\.)?(p)$` matches the module name wins.
 */
import { LorafuseError } from '../../../errors.ts';
import { COMPONENTS, type Component } from '../adapter.ts';
import { PEFT_METADATA_KEY } from './peft.ts';

export interface PeftLoraConfig {
  r: number;
  loraAlpha: number;
  rankPattern: Record<string, number>;
  alphaPattern: Record<string, number>;
  useRslora: boolean;
}

function numberRecord(v: unknown): Record<string, number> {
  if (typeof v !== 'object' || v === null) return {};
  const out: Record<string, number> = {};
  for (const [k, x] of Object.entries(v)) if (typeof x === 'number') out[k] = x;
  return out;
}

/** Reads LoraConfig kwargs; PEFT's defaults (`r` = 8, `lora_alpha` = 8) where absent. */
export function parsePeftConfig(obj: Record<string, unknown>): PeftLoraConfig {
  return {
    r: typeof obj.r === 'number' ? obj.r : 8,
    loraAlpha: typeof obj.lora_alpha === 'number' ? obj.lora_alpha : 8,
    rankPattern: numberRecord(obj.rank_pattern),
    alphaPattern: numberRecord(obj.alpha_pattern),
    useRslora: obj.use_rslora === true,
  };
}

/** Per-component configs from the `lora_adapter_metadata` header entry (none when absent). */
export function peftConfigsFromMetadata(
  metadata: Record<string, string>,
  source: string,
): Partial<Record<Component, PeftLoraConfig>> {
  const raw = metadata[PEFT_METADATA_KEY];
  if (raw === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (e) {
    throw new LorafuseError(
      'lora-invalid',
      `${source}: the header entry '${PEFT_METADATA_KEY}' is not valid JSON (${(e as Error).message}). Re-save the LoRA.`,
      { file: source, key: PEFT_METADATA_KEY },
    );
  }
  if (typeof parsed !== 'object' || parsed === null) return {};
  const out: Partial<Record<Component, PeftLoraConfig>> = {};
  // Longest component first, so that `text_encoder_2.r` is never read as text_encoder's.
  const comps = [...COMPONENTS].sort((a, b) => b.length - a.length);
  const per = new Map<Component, Record<string, unknown>>();
  for (const [k, v] of Object.entries(parsed)) {
    const comp = comps.find((c) => k.startsWith(`${c}.`));
    if (!comp) continue;
    const fields = per.get(comp) ?? {};
    fields[k.slice(comp.length + 1)] = v;
    per.set(comp, fields);
  }
  for (const [comp, fields] of per) out[comp] = parsePeftConfig(fields);
  return out;
}

function patternRegex(pattern: string): RegExp | null {
  try {
    return new RegExp(`^(?:.*\\.)?(?:${pattern})$`);
  } catch {
    return null;
  }
}

/** PEFT's `get_pattern_key`: the first pattern matching the module name, or undefined. */
export function matchPattern(patterns: Record<string, number>, module: string): number | undefined {
  for (const [p, value] of Object.entries(patterns)) {
    if (patternRegex(p)?.test(module)) return value;
  }
  return undefined;
}

/**
 * The alpha to store for `module` so that `alpha / rank` is PEFT's scaling: the pattern or
 * default alpha, times sqrt(rank) for rsLoRA (PEFT scales by alpha / sqrt(r)).
 */
export function peftAlpha(cfg: PeftLoraConfig, module: string, rank: number): number {
  const alpha = matchPattern(cfg.alphaPattern, module) ?? cfg.loraAlpha;
  return cfg.useRslora ? alpha * Math.sqrt(rank) : alpha;
}
