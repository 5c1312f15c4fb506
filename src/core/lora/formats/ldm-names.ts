/**
 * LDM / sgm spellings of diffusers UNet module paths (LORA-FORMATS.md 2.3), computed from the
 * UNet config: SDXL kohya files use them, and so do some SD1.x extractors. Blocks are numbered by
 * walking the UNet as LDM does, so any `layers_per_block` works (SD1.x up_blocks.0's upsampler is
 * `output_blocks.2.1.conv`, blocks with attention put it at sub-index 2).
 */
import type { UNetConfig } from '../../graph/config/unet-config.ts';

/** diffusers resnet sub-module -> LDM name. */
export const LDM_RESNET_PARTS: Readonly<Record<string, string>> = {
  norm1: 'in_layers.0',
  conv1: 'in_layers.2',
  time_emb_proj: 'emb_layers.1',
  norm2: 'out_layers.0',
  conv2: 'out_layers.3',
  conv_shortcut: 'skip_connection',
};

/** Top-level modules whose LDM name is fixed. */
export const LDM_TOP_LEVEL: Readonly<Record<string, string>> = {
  conv_in: 'input_blocks.0.0',
  'time_embedding.linear_1': 'time_embed.0',
  'time_embedding.linear_2': 'time_embed.2',
  'add_embedding.linear_1': 'label_emb.0.0',
  'add_embedding.linear_2': 'label_emb.0.2',
  conv_norm_out: 'out.0',
  conv_out: 'out.2',
};

type Part = 'resnet' | 'attention' | 'exact';

/** One diffusers prefix and its LDM spelling. */
export interface LdmBlockName {
  diffusers: string;
  ldm: string;
  part: Part;
}

export function ldmBlockNames(cfg: UNetConfig): LdmBlockName[] {
  const out: LdmBlockName[] = [];
  let n = 1;
  for (const blk of cfg.downBlocks) {
    for (let j = 0; j < blk.numLayers; j++, n++) {
      out.push({
        diffusers: `down_blocks.${blk.index}.resnets.${j}`,
        ldm: `input_blocks.${n}.0`,
        part: 'resnet',
      });
      if (blk.hasAttention) {
        out.push({
          diffusers: `down_blocks.${blk.index}.attentions.${j}`,
          ldm: `input_blocks.${n}.1`,
          part: 'attention',
        });
      }
    }
    if (blk.addDownsample) {
      out.push({
        diffusers: `down_blocks.${blk.index}.downsamplers.0.conv`,
        ldm: `input_blocks.${n}.0.op`,
        part: 'exact',
      });
      n++;
    }
  }
  if (cfg.midBlock) {
    out.push({ diffusers: 'mid_block.resnets.0', ldm: 'middle_block.0', part: 'resnet' });
    if (cfg.midBlock.transformers.length > 0) {
      out.push({ diffusers: 'mid_block.attentions.0', ldm: 'middle_block.1', part: 'attention' });
      out.push({ diffusers: 'mid_block.resnets.1', ldm: 'middle_block.2', part: 'resnet' });
    }
  }
  let m = 0;
  for (const blk of cfg.upBlocks) {
    for (let j = 0; j < blk.numLayers; j++, m++) {
      out.push({
        diffusers: `up_blocks.${blk.index}.resnets.${j}`,
        ldm: `output_blocks.${m}.0`,
        part: 'resnet',
      });
      if (blk.hasAttention) {
        out.push({
          diffusers: `up_blocks.${blk.index}.attentions.${j}`,
          ldm: `output_blocks.${m}.1`,
          part: 'attention',
        });
      }
      if (blk.addUpsample && j === blk.numLayers - 1) {
        const sub = blk.hasAttention ? 2 : 1;
        out.push({
          diffusers: `up_blocks.${blk.index}.upsamplers.0.conv`,
          ldm: `output_blocks.${m}.${sub}.conv`,
          part: 'exact',
        });
      }
    }
  }
  for (const [diffusers, ldm] of Object.entries(LDM_TOP_LEVEL)) out.push({ diffusers, ldm, part: 'exact' });
  return out;
}

/** The LDM spelling of one diffusers module path, or null when it has none. */
export function toLdmPath(path: string, blocks: readonly LdmBlockName[]): string | null {
  for (const b of blocks) {
    if (b.part === 'exact') {
      if (path === b.diffusers) return b.ldm;
      continue;
    }
    if (!path.startsWith(`${b.diffusers}.`)) continue;
    const rest = path.slice(b.diffusers.length + 1);
    if (b.part === 'attention') return `${b.ldm}.${rest}`;
    const part = LDM_RESNET_PARTS[rest];
    return part === undefined ? null : `${b.ldm}.${part}`;
  }
  return null;
}
