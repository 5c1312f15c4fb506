/**
 * Writes a canonical adapter as a diffusers/PEFT safetensors file (LORA-FORMATS.md table 1 row 1):
 * keys `<component>.<module>.lora_A.weight` / `.lora_B.weight` (+ `.lora_B.bias`,
 * `.lora_magnitude_vector` for DoRA), factors kept as stored (float32), and the
 * `lora_adapter_metadata` header that diffusers >= 0.34 turns into each component's LoraConfig
 * (`<component>.r`, `.lora_alpha`, `.rank_pattern`, `.alpha_pattern`, `.target_modules`, ...),
 * so per-module alpha/rank survive without being baked into the factors.
 *
 * Only the `lora` kind exists in PEFT; LyCORIS kinds are refused (write them with --to kohya).
 * DoRA: PEFT-style magnitudes, and LyCORIS output-axis `dora_scale` (exact at strength 1 only:
 * PEFT applies strength inside the norm, LORA-FORMATS.md 3.5); input-axis DoRA is refused.
 */
import { LorafuseError } from '../../../errors.ts';
import type { ComponentInventory } from '../../graph/config/inventory.ts';
import { type TensorToWrite, writeSafetensors } from '../../io/safetensors.ts';
import {
  type AdapterModule,
  type CanonicalAdapter,
  type Component,
  type F32Tensor,
  moduleId,
} from '../adapter.ts';
import { PEFT_METADATA_KEY, PEFT_SUFFIXES } from '../formats/peft.ts';
import { numel } from '../math/tensor.ts';
import { effectiveAlpha } from '../merge-cpu.ts';
import { suffixFor } from './suffix.ts';

export interface WriteOptions {
  /** The base model's modules per component: factor shapes follow the target layer (Linear vs conv). */
  inventories?: Partial<Record<Component, ComponentInventory>>;
}

/** The most frequent value, the first seen winning a tie (what `collections.Counter.most_common` does). */
export function mostCommon(values: readonly number[]): number {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best = values[0] ?? 0;
  let bestCount = 0;
  for (const [v, c] of counts) {
    if (c > bestCount) {
      best = v;
      bestCount = c;
    }
  }
  return best;
}

/**
 * `down`/`up` reshaped for the target layer: Linear [out,in] -> [r,in] / [out,r]; conv
 * [out,in,kh,kw] -> [r,in,kh,kw] / [out,r,1,1]. Without a target, `up` follows `down`'s rank.
 */
export function loraFactorShapes(
  m: AdapterModule,
  target?: readonly number[],
): { down: number[]; up: number[] } {
  const down = m.factors.down;
  const up = m.factors.up;
  if (!down || !up) {
    throw new LorafuseError('lora-invalid', `module ${moduleId(m)} lacks its down/up factors`, {
      module: moduleId(m),
    });
  }
  const r = down.shape[0] ?? 1;
  const out = up.shape[0] ?? 1;
  if (!target) {
    return down.shape.length === 4
      ? { down: [...down.shape], up: [out, r, 1, 1] }
      : { down: [...down.shape], up: [out, r] };
  }
  const shapes =
    target.length === 4
      ? { down: [r, target[1]!, target[2]!, target[3]!], up: [target[0]!, r, 1, 1] }
      : { down: [r, numel(target.slice(1))], up: [target[0]!, r] };
  if (numel(shapes.down) !== down.data.length || numel(shapes.up) !== up.data.length) {
    throw new LorafuseError(
      'lora-shape-mismatch',
      `module ${moduleId(m)}: factors down [${down.shape}] / up [${up.shape}] do not fit the model's weight [${target}]; the LoRA was made for another model`,
      { module: moduleId(m), down: down.shape, up: up.shape, target: [...target] },
    );
  }
  return shapes;
}

function f32(name: string, shape: number[], t: F32Tensor): TensorToWrite {
  return { name, dtype: 'F32', shape, data: t.data };
}

function refuse(m: AdapterModule, why: string): LorafuseError {
  return new LorafuseError('not-implemented', `module ${moduleId(m)}: ${why}`, {
    module: moduleId(m),
    kind: m.kind,
    keys: m.sourceKeys,
  });
}

function moduleTensors(m: AdapterModule, target?: readonly number[]): TensorToWrite[] {
  if (m.kind !== 'lora') {
    throw refuse(
      m,
      `PEFT/diffusers has no '${m.kind}' adapters; convert with --to kohya (LyCORIS keys) instead`,
    );
  }
  const shapes = loraFactorShapes(m, target);
  const prefix = moduleId(m);
  const key = (role: 'lora' | 'dora', factor: string) => `${prefix}${suffixFor(PEFT_SUFFIXES, role, factor)}`;
  const out = [
    f32(key('lora', 'down'), shapes.down, m.factors.down!),
    f32(key('lora', 'up'), shapes.up, m.factors.up!),
  ];
  if (m.factors.bias) out.push(f32(key('lora', 'bias'), [...m.factors.bias.shape], m.factors.bias));
  if (m.dora) {
    if (m.dora.axis !== 'out') {
      throw refuse(
        m,
        'its DoRA magnitude is per input column (older LyCORIS); PEFT has only per-output magnitudes. Keep it in kohya format',
      );
    }
    const rows = shapes.up[0]!;
    const shape = shapes.down.length === 4 ? [1, rows, 1, 1] : [rows];
    if (numel(m.dora.magnitude.shape) !== rows) {
      throw new LorafuseError(
        'lora-shape-mismatch',
        `module ${prefix}: DoRA magnitude [${m.dora.magnitude.shape}] for ${rows} output rows`,
        {
          module: prefix,
        },
      );
    }
    out.push(f32(key('dora', 'magnitude'), shape, m.dora.magnitude));
  }
  return out;
}

/** The LoraConfig kwargs diffusers stores per component in `lora_adapter_metadata`. */
function componentConfig(modules: readonly AdapterModule[]): Record<string, unknown> {
  const r = mostCommon(modules.map((m) => m.rank));
  const alpha = mostCommon(modules.map(effectiveAlpha));
  const rankPattern: Record<string, number> = {};
  const alphaPattern: Record<string, number> = {};
  for (const m of modules) {
    if (m.rank !== r) rankPattern[m.module] = m.rank;
    if (effectiveAlpha(m) !== alpha) alphaPattern[m.module] = effectiveAlpha(m);
  }
  return {
    alpha_pattern: alphaPattern,
    bias: 'none',
    lora_alpha: alpha,
    lora_bias: modules.some((m) => m.factors.bias !== undefined),
    peft_type: 'LORA',
    r,
    rank_pattern: rankPattern,
    target_modules: modules.map((m) => m.module),
    use_dora: modules.some((m) => m.dora !== undefined),
    use_rslora: false,
  };
}

export function writePeft(adapter: CanonicalAdapter, opts: WriteOptions = {}): Uint8Array {
  const tensors: TensorToWrite[] = [];
  const byComponent = new Map<Component, AdapterModule[]>();
  for (const m of adapter.modules) {
    const target = opts.inventories?.[m.component]?.get(m.module)?.weight;
    tensors.push(...moduleTensors(m, target));
    const list = byComponent.get(m.component) ?? [];
    list.push(m);
    byComponent.set(m.component, list);
  }
  const config: Record<string, unknown> = {};
  for (const [component, modules] of byComponent) {
    for (const [k, v] of Object.entries(componentConfig(modules))) config[`${component}.${k}`] = v;
  }
  const sorted = Object.fromEntries(Object.entries(config).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return writeSafetensors(tensors, { format: 'pt', [PEFT_METADATA_KEY]: JSON.stringify(sorted, null, 2) });
}
