/**
 * A pipeline's typed configs: `model_index.json` plus each component's `config.json`. The caller
 * reads the files (Node, Hub or browser); this only parses. Components the pipeline lists but we
 * do not model (scheduler, tokenizer, safety checker, ...) are ignored here.
 */
import { LorafuseError } from '../../../errors.ts';
import { type ClipTextConfig, parseClipTextConfig } from './clip-config.ts';
import { findComponent, type ModelIndex, parseModelIndex } from './model-index.ts';
import { parseUNetConfig, type UNetConfig } from './unet-config.ts';
import { parseVaeConfig, type VaeConfig } from './vae-config.ts';

export interface ModelConfigs {
  index: ModelIndex;
  unet: UNetConfig | null;
  textEncoder: ClipTextConfig | null;
  textEncoder2: ClipTextConfig | null;
  vae: VaeConfig | null;
}

/** Components whose `config.json` parseModelConfigs reads, when model_index.json lists them. */
export const CONFIG_COMPONENTS = ['unet', 'text_encoder', 'text_encoder_2', 'vae'] as const;

export type ConfigComponent = (typeof CONFIG_COMPONENTS)[number];

/**
 * @param configs `config.json` contents by component name; a component listed in model_index.json
 *   but missing here is an error naming the file to add.
 * @param only the components to parse (others are left null): e.g. LoRA targets need no VAE.
 */
export function parseModelConfigs(
  indexJson: unknown,
  configs: Partial<Record<string, unknown>>,
  root = '',
  only: readonly ConfigComponent[] = CONFIG_COMPONENTS,
): ModelConfigs {
  const index = parseModelIndex(indexJson, `${root}model_index.json`);
  const get = (name: ConfigComponent): unknown | null => {
    if (!only.includes(name) || !findComponent(index, name)) return null;
    const cfg = configs[name];
    if (cfg === undefined) {
      throw new LorafuseError(
        'config-invalid',
        `${root}model_index.json lists '${name}' but ${root}${name}/config.json is missing.`,
        { file: `${root}${name}/config.json` },
      );
    }
    return cfg;
  };
  const unet = get('unet');
  const te = get('text_encoder');
  const te2 = get('text_encoder_2');
  const vae = get('vae');
  return {
    index,
    unet: unet === null ? null : parseUNetConfig(unet, `${root}unet/config.json`),
    textEncoder:
      te === null
        ? null
        : parseClipTextConfig(
            te,
            `${root}text_encoder/config.json`,
            findComponent(index, 'text_encoder')?.className,
          ),
    textEncoder2:
      te2 === null
        ? null
        : parseClipTextConfig(
            te2,
            `${root}text_encoder_2/config.json`,
            findComponent(index, 'text_encoder_2')?.className,
          ),
    vae: vae === null ? null : parseVaeConfig(vae, `${root}vae/config.json`),
  };
}
