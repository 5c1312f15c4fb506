/**
 * A1111's extra-network prompt syntax for LoRA: `<lora:name>`, `<lora:name:weight>`,
 * `<lora:name:te_weight:unet_weight>`, `<lora:name:te_weight:unet_weight:dyn>` and the named
 * forms `te=`, `unet=`, `dyn=` (A1111's `extra_networks.parse_prompt` and the Lora extension's
 * `ExtraNetworkLora.activate`). As there, every `<type:args>` tag is cut out of the prompt, the
 * first positional argument is the name, `te` defaults to 1 and `unet` to `te`; `lyco` is an
 * alias of `lora`. A weight may also be a loractl schedule (`<lora:name:0@0,1@0.5>`), the syntax
 * of `parseSchedule`.
 *
 * A1111 only removes the tag text. Here the whitespace it leaves is tidied too (runs of spaces
 * and tabs become one space, lines and the whole prompt are trimmed), which changes no CLIP token:
 * the CLIP tokenizer collapses whitespace itself. Punctuation (`a, <lora:x:1>, b` -> `a, , b`) is
 * kept as A1111 keeps it, because it does change tokens.
 */
import { LorafuseError } from '../../errors.ts';
import { formatSchedule, type Keyframe, parseSchedule } from './schedule.ts';

/** A weight as written in a tag: a number, or loractl keyframes. */
export type TagWeight = number | Keyframe[];

export interface PromptLora {
  /** The LoRA's name as written (trimmed). */
  name: string;
  /** UNet multiplier, i.e. the adapter weight (A1111's `unet`; defaults to `te`). */
  weight: TagWeight;
  /** Text-encoder multiplier (A1111's `te`: the 2nd argument or `te=`; default 1). */
  te: TagWeight;
  /** LyCORIS dynamic rank (A1111's `dyn`: the 4th argument or `dyn=`), when given. */
  dyn?: number;
  /** The tag as written in the prompt. */
  tag: string;
}

/** An extra-network tag of another kind (`<hypernet:...>`, ...): cut out as A1111 does, and reported. */
export interface OtherNetworkTag {
  type: string;
  tag: string;
}

export interface PromptLoraExtraction {
  /** The prompt without its extra-network tags, whitespace tidied. */
  prompt: string;
  /** LoRA tags in prompt order. */
  loras: PromptLora[];
  /** Tags of other extra networks, which lorafuse does not apply. */
  others: OtherNetworkTag[];
}

const LORA_TYPES: ReadonlySet<string> = new Set(['lora', 'lyco']);
/** A1111's `re_extra_net`, `<(\w+):([^>]+)>`, with Python's Unicode `\w`. */
const EXTRA_NET = /<([\p{L}\p{N}_]+):([^>]+)>/gu;

function invalid(
  tag: string,
  why: string,
  details: Record<string, unknown> = {},
  cause?: unknown,
): LorafuseError {
  return new LorafuseError(
    'invalid-argument',
    `Prompt tag ${tag}: ${why}. Write <lora:name>, <lora:name:weight>, <lora:name:te_weight:unet_weight> or <lora:name:te=w:unet=w>.`,
    { tag, ...details },
    { cause },
  );
}

function parseWeight(tag: string, field: string, text: string): TagWeight {
  try {
    return parseSchedule(text);
  } catch (e) {
    throw invalid(
      tag,
      `${field} '${text}' is not a number or weight@position schedule`,
      { field, value: text },
      e,
    );
  }
}

function parseLoraTag(tag: string, args: string): PromptLora {
  const positional: string[] = [];
  const named = new Map<string, string>();
  for (const item of args.split(':')) {
    const parts = item.split('=');
    if (parts.length === 2) named.set(parts[0]!.trim(), parts[1]!);
    else if (parts.length === 1) positional.push(item);
    else throw invalid(tag, `'${item}' has more than one '='`, { item });
  }
  for (const key of named.keys()) {
    if (key !== 'te' && key !== 'unet' && key !== 'dyn') {
      throw invalid(tag, `unknown named argument '${key}' (known: te, unet, dyn)`, { key });
    }
  }
  if (positional.length > 4)
    throw invalid(tag, `${positional.length} arguments, at most 4 (name, te, unet, dyn)`);
  const name = positional[0]?.trim() ?? '';
  if (name === '') throw invalid(tag, 'the LoRA name is empty');
  let te: TagWeight = positional[1] !== undefined ? parseWeight(tag, 'te weight', positional[1]) : 1;
  if (named.has('te')) te = parseWeight(tag, 'te', named.get('te')!);
  let weight: TagWeight = positional[2] !== undefined ? parseWeight(tag, 'unet weight', positional[2]) : te;
  if (named.has('unet')) weight = parseWeight(tag, 'unet', named.get('unet')!);
  const dynText = named.get('dyn') ?? positional[3];
  const out: PromptLora = { name, weight, te, tag };
  if (dynText !== undefined) {
    const dyn = Number(dynText.trim());
    if (!/^\s*\d+\s*$/.test(dynText) || dyn < 1) {
      throw invalid(tag, `dyn '${dynText}' is not a positive integer rank`, { field: 'dyn', value: dynText });
    }
    out.dyn = dyn;
  }
  return out;
}

/** Collapses the whitespace a removed tag leaves (token-neutral for CLIP), keeping line breaks. */
function tidy(text: string): string {
  return text
    .split('\n')
    .map((line) => line.replace(/[ \t]+/g, ' ').trim())
    .join('\n')
    .trim();
}

/**
 * Cuts every `<type:args>` tag out of `prompt` and parses the LoRA ones. Throws
 * `invalid-argument` naming the tag for a bad weight, an empty name, an unknown argument, a LoRA
 * named twice, or an unclosed `<lora:` tag.
 */
export function extractPromptLoras(prompt: string): PromptLoraExtraction {
  const loras: PromptLora[] = [];
  const others: OtherNetworkTag[] = [];
  const cleaned = prompt.replace(EXTRA_NET, (tag: string, type: string, args: string) => {
    if (LORA_TYPES.has(type)) {
      const lora = parseLoraTag(tag, args);
      const twin = loras.find((l) => l.name === lora.name);
      if (twin) {
        throw new LorafuseError(
          'invalid-argument',
          `LoRA '${lora.name}' is named twice in the prompt (${twin.tag} and ${tag}); keep one tag per LoRA.`,
          { name: lora.name, tags: [twin.tag, tag] },
        );
      }
      loras.push(lora);
    } else {
      others.push({ type, tag });
    }
    return '';
  });
  // Every well-formed tag is gone by now: what is left is unclosed (or empty, `<lora:>`).
  const unclosed = /<(?:lora|lyco):[^<>\n]{0,40}/u.exec(cleaned);
  if (unclosed) {
    throw new LorafuseError(
      'invalid-argument',
      `Prompt tag '${unclosed[0]}' is not a complete tag; write <lora:name:weight>, closed with '>'.`,
      { tag: unclosed[0] },
    );
  }
  return { prompt: tidy(cleaned), loras, others };
}

function formatWeight(w: TagWeight): string {
  return typeof w === 'number' ? String(w) : formatSchedule(w);
}

/**
 * The tag for a LoRA: `<lora:name:weight>`, or `<lora:name:te:unet>` when the text-encoder weight
 * differs. Names with `:` or `>` cannot be written in A1111's syntax and are refused.
 */
export function formatLoraTag(lora: {
  name: string;
  weight: TagWeight;
  te?: TagWeight;
  dyn?: number;
}): string {
  const name = lora.name.trim();
  if (name === '' || /[:>]/.test(name) || name.includes('\n')) {
    throw new LorafuseError(
      'invalid-argument',
      `LoRA name '${lora.name}' cannot be written as a prompt tag: it must be non-empty without ':', '>' or line breaks. Rename the adapter.`,
      { name: lora.name },
    );
  }
  const w = formatWeight(lora.weight);
  const te = lora.te === undefined ? w : formatWeight(lora.te);
  const weights = te === w ? `:${w}` : `:${te}:${w}`;
  return `<lora:${name}${weights}${lora.dyn !== undefined ? `:dyn=${lora.dyn}` : ''}>`;
}
