/**
 * The case op `peft_add_weighted_adapter` (tests/fixtures/README.md): LoRAs loaded by name, then
 * each combination made with `addWeightedAdapter`; the op stores, for one layer, the base weight
 * (`base_weight`), each source's and each combination's `lora_A`, `lora_B`, `scaling` (alpha/rank)
 * and `delta_weight` (scaling * B @ A), as PEFT's one-layer model holds them. A combination PEFT
 * refused is not listed among the case's outputs: the manager must refuse it too (its error is
 * swallowed only then); a refusal of a listed one fails the case with the manager's error.
 */
import { LorafuseError } from '../../../errors.ts';
import type { StateOp } from '../../cases/case-json.ts';
import type { CaseStateContext, CaseTensor } from '../../cases/state-ops.ts';
import { type AdapterModule, COMPONENTS, type Component, type F32Tensor } from '../../lora/adapter.ts';
import type { CombinationType, MajoritySignMethod } from '../../lora/combine/index.ts';
import { deltaWeight, moduleScale } from '../../lora/merge-cpu.ts';
import type { AdapterManager } from '../adapters.ts';

interface Source {
  repo: string;
  weight_name?: string;
  adapter_name: string;
}

interface Combo {
  name: string;
  combination_type: CombinationType;
  weights: number[];
  density?: number;
  majority_sign_method?: MajoritySignMethod;
  svd_rank?: number;
  svd_clamp?: number;
}

function bad(what: string, details: Record<string, unknown> = {}): LorafuseError {
  return new LorafuseError('config-invalid', `peft_add_weighted_adapter: ${what}`, details);
}

function list<T>(v: unknown, field: string, check: (x: Record<string, unknown>) => boolean): T[] {
  if (!Array.isArray(v) || v.length === 0) throw bad(`'${field}' must be a non-empty list.`);
  v.forEach((x, i) => {
    if (typeof x !== 'object' || x === null || !check(x as Record<string, unknown>)) {
      throw bad(`${field}[${i}] lacks a required field.`, { [field]: x });
    }
  });
  return v as T[];
}

const copy = (t: F32Tensor): CaseTensor => ({ shape: [...t.shape], data: Float32Array.from(t.data) });

function emitModule(ctx: CaseStateContext, prefix: string, m: AdapterModule, base: F32Tensor): void {
  const down = m.factors.down;
  const up = m.factors.up;
  if (m.kind !== 'lora' || !down || !up) {
    throw bad(`${prefix}: '${m.module}' is a ${m.kind} module; PEFT's lora_A/lora_B exist only for LoRA.`);
  }
  const scaling = moduleScale(m);
  ctx.emit(`${prefix}.lora_A`, copy(down));
  ctx.emit(`${prefix}.lora_B`, copy(up));
  ctx.emit(`${prefix}.scaling`, { shape: [1], data: Float32Array.of(scaling) });
  ctx.emit(`${prefix}.delta_weight`, copy(deltaWeight(m, { weight: base }, 1).weight));
}

function layerOf(m: AdapterManager, adapter: string, component: Component, layer: string): AdapterModule {
  const found = m.getAdapter(adapter).modules.find((x) => x.component === component && x.module === layer);
  if (!found) {
    throw new LorafuseError('invalid-argument', `adapter '${adapter}' has no module ${component}.${layer}.`, {
      adapter,
      module: `${component}.${layer}`,
    });
  }
  return found;
}

export async function peftAddWeightedAdapter(
  m: AdapterManager,
  op: StateOp,
  ctx: CaseStateContext,
): Promise<void> {
  const layer = op.layer_module;
  if (typeof layer !== 'string') throw bad("'layer_module' must be a string.");
  const component = (op.component ?? 'unet') as Component;
  if (!COMPONENTS.includes(component)) throw bad(`unknown component '${String(op.component)}'.`);
  const sources = list<Source>(
    op.sources,
    'sources',
    (s) => typeof s.repo === 'string' && typeof s.adapter_name === 'string',
  );
  const combos = list<Combo>(
    op.combos,
    'combos',
    (c) => typeof c.name === 'string' && typeof c.combination_type === 'string' && Array.isArray(c.weights),
  );
  for (const s of sources) {
    await m.loadLoraWeights(s.weight_name ? { repo: s.repo, weightName: s.weight_name } : { repo: s.repo }, {
      adapterName: s.adapter_name,
    });
  }
  const base = (await m.fusedWeight(component, layer)).weight;
  ctx.emit('base_weight', copy(base));
  for (const s of sources) {
    emitModule(ctx, `source.${s.adapter_name}`, layerOf(m, s.adapter_name, component, layer), base);
  }
  for (const c of combos) {
    try {
      await m.addWeightedAdapter({
        adapters: sources.map((s) => s.adapter_name),
        weights: c.weights,
        adapterName: c.name,
        combinationType: c.combination_type,
        ...(c.density === undefined ? {} : { density: c.density }),
        ...(c.majority_sign_method === undefined ? {} : { majoritySignMethod: c.majority_sign_method }),
        ...(c.svd_rank === undefined ? {} : { svdRank: c.svd_rank }),
        ...(c.svd_clamp === undefined ? {} : { svdClamp: c.svd_clamp }),
      });
    } catch (e) {
      const listed = ['lora_A', 'lora_B', 'scaling', 'delta_weight'].some(
        (k) => ctx.wants?.(`${c.name}.${k}`) ?? true,
      );
      if (listed) throw e;
      continue;
    }
    emitModule(ctx, c.name, layerOf(m, c.name, component, layer), base);
  }
}
