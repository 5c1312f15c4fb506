/** Module inventory of transformers' `CLIPTextModel` / `CLIPTextModelWithProjection`. */
import type { ClipTextConfig } from './clip-config.ts';
import { type ComponentInventory, InventoryBuilder } from './inventory.ts';

export function clipTextInventory(cfg: ClipTextConfig): ComponentInventory {
  const b = new InventoryBuilder();
  const h = cfg.hiddenSize;
  const tm = b.scope('text_model');
  tm.embedding('embeddings.token_embedding', cfg.vocabSize, h);
  tm.embedding('embeddings.position_embedding', cfg.maxPositionEmbeddings, h);
  for (let n = 0; n < cfg.numHiddenLayers; n++) {
    const layer = tm.scope(`encoder.layers.${n}`);
    for (const p of ['k_proj', 'v_proj', 'q_proj', 'out_proj']) layer.linear(`self_attn.${p}`, h, h);
    layer.norm('layer_norm1', h);
    layer.linear('mlp.fc1', h, cfg.intermediateSize);
    layer.linear('mlp.fc2', cfg.intermediateSize, h);
    layer.norm('layer_norm2', h);
  }
  tm.norm('final_layer_norm', h);
  if (cfg.withProjection) b.linear('text_projection', h, cfg.projectionDim, false);
  return b.build();
}
