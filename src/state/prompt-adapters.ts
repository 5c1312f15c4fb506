/**
 * `<lora:name:weight>` tags in the Generate panel's prompt, applied to the LoRA panel's adapters
 * for one run. Choice (A1111 has no panel, its tag is the only weight): a tag SETS the adapter's
 * weight for this run, replacing the panel weight (block multipliers, if any, scale with the tag
 * weight instead), and uses the adapter even when its toggle is off. A keyframe weight
 * (`<lora:name:0@0,1@0.5>`) runs at weight 1 with that schedule in place of the panel's. Adapters
 * not tagged keep the panel's settings. The panel itself is not changed.
 */
import type { PromptLora } from '../core/pipeline/prompt-loras.ts';
import { extractPromptLoras } from '../core/pipeline/prompt-loras.ts';
import type { Schedule } from '../core/pipeline/schedule.ts';
import { LorafuseError } from '../errors.ts';
import type { LoraEntry } from './slices/loras.ts';

export interface PromptAdapters {
  /** The prompt without its tags: what the text encoder sees. */
  prompt: string;
  /** The panel's adapters with the tags applied. */
  loras: LoraEntry[];
  /** The tags, in prompt order. */
  tags: PromptLora[];
}

function sameWeight(a: PromptLora['weight'], b: PromptLora['weight']): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Applies the prompt's LoRA tags to `loras`. Throws `invalid-argument` for a tag naming no
 * adapter in the panel (naming it and the adapters there are), a tag with a different text-encoder
 * weight (lorafuse runs one weight for both), and other extra-network tags (`<hypernet:...>`),
 * plus the syntax errors of `extractPromptLoras`.
 */
export function applyPromptLoras(prompt: string, loras: readonly LoraEntry[]): PromptAdapters {
  const { prompt: cleaned, loras: tags, others } = extractPromptLoras(prompt);
  const first = others[0];
  if (first) {
    throw new LorafuseError(
      'invalid-argument',
      `Prompt tag ${first.tag}: lorafuse applies only <lora:...> tags, not '${first.type}'. Remove the tag.`,
      { tag: first.tag, type: first.type },
    );
  }
  const out = loras.map((l) => ({ ...l }));
  for (const tag of tags) {
    const i = out.findIndex((l) => l.adapterName === tag.name);
    const entry = out[i];
    if (!entry) {
      const names = loras.map((l) => `"${l.adapterName}"`).join(', ');
      throw new LorafuseError(
        'invalid-argument',
        `Prompt tag ${tag.tag} names LoRA "${tag.name}", but no adapter has that name (${
          names ? `loaded: ${names}` : 'none is loaded'
        }). Add it in the LoRA panel under that name, or fix the tag.`,
        { tag: tag.tag, name: tag.name, loaded: loras.map((l) => l.adapterName) },
      );
    }
    if (!sameWeight(tag.te, tag.weight)) {
      throw new LorafuseError(
        'invalid-argument',
        `Prompt tag ${tag.tag}: separate text-encoder and UNet weights are not supported; lorafuse runs one weight for both. Write <lora:${tag.name}:weight>.`,
        { tag: tag.tag, name: tag.name },
      );
    }
    const { schedule: _panelSchedule, ...rest } = entry;
    out[i] =
      typeof tag.weight === 'number'
        ? { ...entry, enabled: true, weight: tag.weight }
        : { ...rest, enabled: true, weight: 1, schedule: tag.weight as Schedule };
  }
  return { prompt: cleaned, loras: out, tags };
}
