/**
 * transformers' `CLIPTextModel` / `CLIPTextModelWithProjection` as an ONNX graph.
 *
 * Input `input_ids` int32 [batch, sequence] (sequence <= max_position_embeddings). Outputs:
 * - `last_hidden_state` [batch, sequence, hidden]: after `final_layer_norm` (SD1.x, SD2.x use it);
 * - `penultimate_hidden_state`: `hidden_states[-2]`, the input of the last layer (what SDXL uses);
 * - `pooler_output` (CLIPTextModel) or `text_embeds` (WithProjection: `text_projection(pooled)`),
 *   pooled at the first EOS token (or at the largest id for legacy configs with eos_token_id 2).
 * Weights: the model's own state-dict keys (`text_model.encoder.layers.0.self_attn.q_proj.weight`).
 */
import type { ClipTextConfig } from '../config/clip-config.ts';
import type { GraphDef, Value, WeightDType } from '../dsl/builder.ts';
import { GraphBuilder } from '../dsl/builder.ts';
import {
  add,
  argMax,
  cast,
  compare,
  gather,
  gatherRows,
  range,
  scalar,
  shapeOf,
  slice,
  sliceTo,
  unsqueeze,
  where,
} from '../dsl/ops.ts';
import { activation, layerNorm, linear, multiHeadAttention } from './layers.ts';

export const CLIP_INPUT_IDS = 'input_ids';

/** Token + position embeddings for ids [B, S]. */
function embeddings(g: GraphBuilder, ids: Value, cfg: ClipTextConfig): Value {
  return g.scope('embeddings', () => {
    const tokens = g.scope('token_embedding', () => g.weight('weight', [cfg.vocabSize, cfg.hiddenSize]));
    const positions = g.scope('position_embedding', () =>
      g.weight('weight', [cfg.maxPositionEmbeddings, cfg.hiddenSize]),
    );
    // position_ids = arange(S): the first S rows of the position table.
    const pos = sliceTo(g, positions, slice(g, shapeOf(g, ids), [1], [2], [0]), 0, ids.shape[1]!);
    return add(g, gather(g, tokens, ids, 0), pos);
  });
}

/** Additive causal mask [S, S]: 0 on and below the diagonal, the float32 minimum above it. */
function causalMask(g: GraphBuilder, hidden: Value): Value {
  const seq = hidden.shape[1]!;
  const len = cast(g, gather(g, shapeOf(g, hidden), g.constant('int64', [], [1])), 'float32');
  const idx = range(g, scalar(g, 0), len, scalar(g, 1), seq);
  const future = compare(g, 'Greater', unsqueeze(g, idx, [0]), unsqueeze(g, idx, [1]));
  return where(g, future, scalar(g, -3.4028234663852886e38), scalar(g, 0));
}

function encoderLayer(g: GraphBuilder, x: Value, mask: Value, cfg: ClipTextConfig): Value {
  const d = cfg.hiddenSize;
  const h1 = layerNormIn(g, x, 'layer_norm1', cfg);
  const a = g.scope('self_attn', () => {
    const q = linear(g, h1, 'q_proj', d, d);
    const k = linear(g, h1, 'k_proj', d, d);
    const v = linear(g, h1, 'v_proj', d, d);
    const o = multiHeadAttention(g, q, k, v, cfg.numAttentionHeads, cfg.headDim, mask);
    return linear(g, o, 'out_proj', d, d);
  });
  const x1 = add(g, x, a);
  const h2 = layerNormIn(g, x1, 'layer_norm2', cfg);
  const m = g.scope('mlp', () => {
    const up = activation(g, linear(g, h2, 'fc1', d, cfg.intermediateSize), cfg.hiddenAct);
    return linear(g, up, 'fc2', cfg.intermediateSize, d);
  });
  return add(g, x1, m);
}

function layerNormIn(g: GraphBuilder, x: Value, name: string, cfg: ClipTextConfig): Value {
  return layerNorm(g, x, name, cfg.hiddenSize, cfg.layerNormEps);
}

/** The index of the token to pool per row, [B, 1] int64 (transformers' rule). */
function poolIndex(g: GraphBuilder, ids: Value, cfg: ClipTextConfig): Value {
  // Legacy configs (eos_token_id == 2) pool at the largest id, which is the EOS token in CLIP's vocab.
  const score =
    cfg.eosTokenId === 2
      ? cast(g, ids, 'float32')
      : cast(g, compare(g, 'Equal', ids, g.constant('int32', [], [cfg.eosTokenId])), 'float32');
  return argMax(g, score, -1, true);
}

export function buildClipTextGraph(
  cfg: ClipTextConfig,
  options: { weightDType?: WeightDType } = {},
): GraphDef {
  const g = new GraphBuilder(cfg.className, options);
  const ids = g.input(CLIP_INPUT_IDS, 'int32', ['batch', 'sequence']);
  const { last, penultimate, pooled } = g.scope('text_model', () => {
    let h = embeddings(g, ids, cfg);
    const mask = causalMask(g, h);
    let before = h;
    g.scope('encoder', () => {
      for (let i = 0; i < cfg.numHiddenLayers; i++) {
        before = h;
        h = g.scope(`layers.${i}`, () => encoderLayer(g, h, mask, cfg));
      }
    });
    const last = layerNormIn(g, h, 'final_layer_norm', cfg);
    return { last, penultimate: before, pooled: gatherRows(g, last, poolIndex(g, ids, cfg)) };
  });
  g.output(last, 'last_hidden_state');
  g.output(penultimate, 'penultimate_hidden_state');
  if (cfg.withProjection) {
    g.output(linear(g, pooled, 'text_projection', cfg.hiddenSize, cfg.projectionDim, false), 'text_embeds');
  } else {
    g.output(pooled, 'pooler_output');
  }
  return g.finish();
}
