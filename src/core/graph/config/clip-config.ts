/**
 * Typed transformers `CLIPTextConfig` for `CLIPTextModel` / `CLIPTextModelWithProjection`, with
 * transformers' defaults. Which class is built comes from `model_index.json` when given, else from
 * the config's `architectures`.
 */
import { LorafuseError } from '../../../errors.ts';
import { asConfigObject, type ConfigSource, int, num, str } from './json-fields.ts';

export type ClipTextClass = 'CLIPTextModel' | 'CLIPTextModelWithProjection';

export interface ClipTextConfig {
  file: string;
  className: ClipTextClass;
  /** `text_projection` (Linear hidden -> projection_dim, no bias) exists. */
  withProjection: boolean;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  projectionDim: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  headDim: number;
  maxPositionEmbeddings: number;
  hiddenAct: string;
  layerNormEps: number;
  padTokenId: number;
  bosTokenId: number;
  eosTokenId: number;
}

const CLASSES: readonly string[] = ['CLIPTextModel', 'CLIPTextModelWithProjection'];

export function parseClipTextConfig(
  json: unknown,
  file = 'text_encoder/config.json',
  className?: string,
): ClipTextConfig {
  let obj = asConfigObject(json, file);
  // A full CLIPConfig nests the text part.
  if (obj.model_type === 'clip' && typeof obj.text_config === 'object' && obj.text_config !== null) {
    obj = asConfigObject(obj.text_config, `${file} (text_config)`);
  }
  const src: ConfigSource = { json: obj, file };
  const archs = Array.isArray(obj.architectures) ? obj.architectures : [];
  const cls = className ?? (typeof archs[0] === 'string' ? archs[0] : 'CLIPTextModel');
  if (!CLASSES.includes(cls)) {
    throw new LorafuseError(
      'not-implemented',
      `${file}: text encoder class '${cls}' is not supported; expected CLIPTextModel or CLIPTextModelWithProjection.`,
      { file, className: cls },
    );
  }
  const hiddenSize = int(src, 'hidden_size', 512);
  const numAttentionHeads = int(src, 'num_attention_heads', 8);
  if (hiddenSize % numAttentionHeads !== 0) {
    throw new LorafuseError(
      'config-invalid',
      `${file}: hidden_size ${hiddenSize} is not divisible by num_attention_heads ${numAttentionHeads}.`,
      { file },
    );
  }
  return {
    file,
    className: cls as ClipTextClass,
    withProjection: cls === 'CLIPTextModelWithProjection',
    vocabSize: int(src, 'vocab_size', 49408),
    hiddenSize,
    intermediateSize: int(src, 'intermediate_size', 2048),
    projectionDim: int(src, 'projection_dim', 512),
    numHiddenLayers: int(src, 'num_hidden_layers', 12),
    numAttentionHeads,
    headDim: hiddenSize / numAttentionHeads,
    maxPositionEmbeddings: int(src, 'max_position_embeddings', 77),
    hiddenAct: str(src, 'hidden_act', 'quick_gelu'),
    layerNormEps: num(src, 'layer_norm_eps', 1e-5),
    padTokenId: int(src, 'pad_token_id', 1),
    bosTokenId: int(src, 'bos_token_id', 49406),
    eosTokenId: int(src, 'eos_token_id', 49407),
  };
}
