/**
 * UNet block-wise adapter weights: `setAdapters(name, {unet: {down, mid, up}})` (LORA-FORMATS.md
 * 3.9, Diffusers' `_maybe_expand_lora_scales` + `set_weights_and_activate_adapters`).
 *
 * Expansion: `down`/`up` are a number (every block that has attentions) or `{block_i: number |
 * [one per transformer]}` (a list of 1 broadcasts; missing blocks 1.0); `mid` is a number or a
 * 1-element list (missing 1.0). The result maps each attention block path
 * (`down_blocks.i.attentions.j`, `mid_block.attentions.0`, `up_blocks.i.attentions.j`) to its weight.
 *
 * A module's multiplier: the first attention block whose path prefixes the module's; otherwise the
 * attention with the same index in the same block (`down_blocks.1.resnets.0.conv1` and
 * `down_blocks.1.downsamplers.0.conv` take `down_blocks.1.attentions.0`), 1.0 where there is none
 * (mid-block resnets, blocks without attentions). Kept as Diffusers has it.
 *
 * Where Diffusers crashes or silently ignores, this refuses with `invalid-argument`: modules with
 * fewer than four dotted parts (`conv_in`, `time_embedding.linear_1`: Diffusers' fallback raises
 * IndexError), unknown keys, a `block_i` that does not exist or has no attentions, `mid` on a UNet
 * without a mid attention, lists of the wrong length, non-finite numbers.
 */
import { LorafuseError } from '../../../errors.ts';
import type { UNetConfig } from '../../graph/config/unet-config.ts';

export type BlockValue = number | readonly number[];

/** The `unet` entry of a block dict, as a Diffusers user writes it. */
export interface UNetBlockWeightsInput {
  down?: number | Readonly<Record<string, BlockValue>>;
  mid?: number | readonly number[];
  up?: number | Readonly<Record<string, BlockValue>>;
}

/** An expanded block dict: attention block path -> weight, in Diffusers' order (down, mid, up). */
export interface BlockWeights {
  readonly kind: 'blocks';
  readonly byAttention: ReadonlyMap<string, number>;
}

function bad(what: string, details: Record<string, unknown> = {}): LorafuseError {
  return new LorafuseError('invalid-argument', `setAdapters: ${what}`, details);
}

function finite(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw bad(`${where} must be a finite number, got ${JSON.stringify(v)}.`, { where, value: v });
  }
  return v;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

interface Side {
  name: 'down' | 'up';
  blocks: { index: number; hasAttention: boolean; numLayers: number }[];
  prefix: string;
}

/** One transformer count per listed value: a number broadcasts, a list must have 1 or n entries. */
function perTransformer(v: unknown, n: number, where: string): number[] {
  if (Array.isArray(v)) {
    if (v.length === 1) return new Array<number>(n).fill(finite(v[0], `${where}[0]`));
    if (v.length !== n) {
      throw bad(
        `${where} has ${v.length} values; this block has ${n} transformer(s): give ${n} values or one.`,
        {
          where,
          expected: n,
          got: v.length,
        },
      );
    }
    return v.map((x, i) => finite(x, `${where}[${i}]`));
  }
  return new Array<number>(n).fill(finite(v, where));
}

function expandSide(side: Side, v: unknown, out: Map<string, number>): void {
  const withAttention = side.blocks.filter((b) => b.hasAttention);
  const names = withAttention.map((b) => `block_${b.index}`).join(', ') || 'none';
  const values = new Map<number, unknown>();
  if (v === undefined) {
    // every block at 1.0
  } else if (isRecord(v)) {
    for (const [key, value] of Object.entries(v)) {
      const m = /^block_(\d+)$/.exec(key);
      const block = m ? side.blocks[Number(m[1])] : undefined;
      if (!block) {
        throw bad(
          `unet.${side.name}.${key} is not a block of this UNet; use block_<i> with i in 0..${side.blocks.length - 1} (blocks with attentions: ${names}).`,
          { key: `${side.name}.${key}` },
        );
      }
      if (!block.hasAttention) {
        throw bad(
          `unet.${side.name}.${key} has no attention layers, so a block weight cannot apply to it (Diffusers ignores it silently). Blocks with attentions: ${names}.`,
          { key: `${side.name}.${key}` },
        );
      }
      values.set(block.index, value);
    }
  } else {
    for (const b of withAttention) values.set(b.index, v);
  }
  for (const b of withAttention) {
    const raw = values.has(b.index) ? values.get(b.index) : 1;
    const ws = perTransformer(raw, b.numLayers, `unet.${side.name}.block_${b.index}`);
    ws.forEach((w, j) => {
      out.set(`${side.prefix}.${b.index}.attentions.${j}`, w);
    });
  }
}

/** Expands a `unet` block dict against the UNet's config. */
export function expandBlockWeights(input: unknown, unet: UNetConfig): BlockWeights {
  if (!isRecord(input)) throw bad(`a UNet block dict must be an object, got ${JSON.stringify(input)}.`);
  for (const key of Object.keys(input)) {
    if (key !== 'down' && key !== 'mid' && key !== 'up') {
      throw bad(`unknown key '${key}' in the unet block dict; use 'down', 'mid' and 'up'.`, { key });
    }
  }
  const out = new Map<string, number>();
  const down: Side = {
    name: 'down',
    prefix: 'down_blocks',
    blocks: unet.downBlocks.map((b) => ({
      index: b.index,
      hasAttention: b.hasAttention,
      numLayers: b.numLayers,
    })),
  };
  const up: Side = {
    name: 'up',
    prefix: 'up_blocks',
    blocks: unet.upBlocks.map((b) => ({
      index: b.index,
      hasAttention: b.hasAttention,
      numLayers: b.numLayers,
    })),
  };
  expandSide(down, input.down, out);
  const midAttentions = unet.midBlock?.transformers.length ?? 0;
  if (midAttentions > 0) {
    let mid: unknown = input.mid ?? 1;
    if (Array.isArray(mid)) {
      if (mid.length !== 1) throw bad(`unet.mid takes one value, got ${mid.length}.`, { got: mid.length });
      mid = mid[0];
    }
    out.set('mid_block.attentions.0', finite(mid, 'unet.mid'));
  } else if (input.mid !== undefined) {
    throw bad('unet.mid is set, but this UNet has no mid-block attention.', {});
  }
  expandSide(up, input.up, out);
  return { kind: 'blocks', byAttention: out };
}

/**
 * The block multiplier of a UNet module path, or null where Diffusers' fallback crashes (a path of
 * fewer than four dotted parts, e.g. `conv_in`, `time_embedding.linear_1`).
 */
export function blockMultiplier(w: BlockWeights, path: string): number | null {
  for (const [key, value] of w.byAttention) {
    if (path === key || path.startsWith(`${key}.`)) return value;
  }
  const parts = path.split('.');
  if (parts.length < 4) return null;
  return w.byAttention.get(`${parts[0]}.${parts[1]}.attentions.${parts[3]}`) ?? 1;
}
