/**
 * The CPU reference math (the oracle for the GPU kernels and the engine of `lorafuse delta`).
 *
 * `deltaWeight(module, base?, strength)` is the change W' - W a module makes to its target
 * parameter at a strength, in float32, per LORA-FORMATS.md section 3:
 * - scale = alpha/rank (alpha 0 => rank); LoKr with both factors whole => 1; full and norm => 1;
 * - the product is reshaped to the target weight's shape (1x1 conv <-> linear, LoHa/LoKr conv);
 * - DoRA follows the module's `dora.style` (see math/dora.ts) and needs the base weight;
 * - strength 0 puts any module, DoRA included, out of the mix (a zero delta).
 * `applyAdapters(W0, [{module, coefficient}])` = W0 + Σ deltaWeight(module_i, W0, c_i); for linear
 * kinds that is W0 + Σ c_i·ΔW_i. Each DoRA term is taken against W0, so the order does not matter.
 */
import { LorafuseError } from '../../errors.ts';
import { type AdapterModule, type F32Tensor, moduleId } from './adapter.ts';
import { DIFFUSERS_2023_SUFFIXES } from './formats/diffusers-2023.ts';
import { KOHYA_SUFFIXES } from './formats/kohya.ts';
import { LYCORIS_SUFFIXES } from './formats/lycoris.ts';
import { PEFT_SUFFIXES } from './formats/peft.ts';
import { doraCount, doraDelta } from './math/dora.ts';
import { fullDelta, type RawDelta } from './math/full.ts';
import { loconTuckerProduct } from './math/locon-tucker.ts';
import { lohaProduct } from './math/loha.ts';
import { lokrIsFull, lokrProduct } from './math/lokr.ts';
import { loraProduct } from './math/lora.ts';
import { normDelta } from './math/norm.ts';
import { numel, shapeMismatch, tensor } from './math/tensor.ts';
import { countNonFinite, findNonFinite } from './validate.ts';

export interface BaseParams {
  weight: F32Tensor;
  bias?: F32Tensor;
}

export interface ModuleDelta {
  weight: F32Tensor;
  bias?: F32Tensor;
}

export interface DeltaOptions {
  /** Shape of the target weight when no base weight is given (from the model's config). */
  targetShape?: readonly number[];
  /** File name or URL, for error messages. */
  source?: string;
}

/**
 * Alpha as it applies to a ranked module (what `moduleScale` divides by the rank and what the
 * writers store): a stored 0 means alpha = rank. A rank that is not positive or an alpha that is
 * not finite is an error.
 */
export function effectiveAlpha(m: AdapterModule): number {
  if (!(m.rank > 0)) {
    throw new LorafuseError(
      'lora-invalid',
      `module ${moduleId(m)} has rank ${m.rank}; expected a positive rank`,
      {
        module: moduleId(m),
        keys: m.sourceKeys,
      },
    );
  }
  if (!Number.isFinite(m.alpha)) {
    throw new LorafuseError(
      'lora-nonfinite',
      `module ${moduleId(m)}: alpha is ${m.alpha} (key '${factorKey(m, 'alpha')}'); repair or re-export the file`,
      { module: moduleId(m), keys: m.sourceKeys },
    );
  }
  return m.alpha === 0 ? m.rank : m.alpha;
}

/** The factor alpha/rank applies to the module's product (before strength). */
export function moduleScale(m: AdapterModule): number {
  switch (m.kind) {
    case 'full':
    case 'norm':
      return 1;
    case 'lokr':
      if (lokrIsFull(m)) return 1;
      break;
    default:
      break;
  }
  return effectiveAlpha(m) / m.rank;
}

/** The module's delta at strength 1 without DoRA, in the shape its factors imply. */
function productOf(m: AdapterModule): RawDelta {
  switch (m.kind) {
    case 'lora': {
      const bias = m.factors.bias;
      return bias ? { weight: loraProduct(m), bias } : { weight: loraProduct(m) };
    }
    case 'locon-tucker':
      return { weight: loconTuckerProduct(m) };
    case 'loha':
      return { weight: lohaProduct(m) };
    case 'lokr':
      return { weight: lokrProduct(m) };
    case 'full':
      return fullDelta(m);
    case 'norm':
      return normDelta(m);
    default:
      throw new LorafuseError(
        'not-implemented',
        `module ${moduleId(m)}: unknown adapter kind '${String(m.kind)}'`,
        {
          module: moduleId(m),
        },
      );
  }
}

function scaled(src: Float32Array, k: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i]! * k;
  return out;
}

/** Strength 0: out of the mix for every kind, DoRA included, whatever the factors hold. */
function zeroDelta(shape: number[], biasShape?: readonly number[]): ModuleDelta {
  const d: ModuleDelta = { weight: tensor(shape, new Float32Array(numel(shape))) };
  if (biasShape) d.bias = tensor(biasShape, new Float32Array(numel(biasShape)));
  return d;
}

function targetShapeOf(m: AdapterModule, natural: readonly number[], target?: readonly number[]): number[] {
  if (!target) return [...natural];
  if (numel(target) !== numel(natural)) {
    throw shapeMismatch(
      m,
      `its delta has shape [${natural}] (${numel(natural)} values) but the target weight is [${target}]; the LoRA was made for another model`,
      { delta: [...natural], target: [...target] },
    );
  }
  return [...target];
}

/**
 * W' - W (and b' - b where the module changes the bias) for one module at `strength`, float32.
 * `base` is required for DoRA; otherwise it only fixes the output shape.
 */
export function deltaWeight(
  m: AdapterModule,
  base?: BaseParams,
  strength = 1,
  opts: DeltaOptions = {},
): ModuleDelta {
  const raw = productOf(m);
  const s = moduleScale(m);
  const shape = targetShapeOf(m, raw.weight.shape, base?.weight.shape ?? opts.targetShape);
  if (strength === 0) return zeroDelta(shape, raw.bias ? (base?.bias?.shape ?? [shape[0] ?? 1]) : undefined);
  let weight: F32Tensor;
  if (m.dora) {
    if (!base) {
      throw new LorafuseError(
        'invalid-argument',
        `module ${moduleId(m)} uses DoRA (${m.dora.style} style): its delta depends on the base weight, so give a base with weights (a model folder with its safetensors), not a config-only base`,
        { module: moduleId(m), source: opts.source },
      );
    }
    const count = doraCount(shape, m.dora.axis);
    if (numel(m.dora.magnitude.shape) !== count) {
      throw shapeMismatch(
        m,
        `DoRA magnitude [${m.dora.magnitude.shape}] should hold ${count} values (one per ${m.dora.axis === 'out' ? 'output row' : 'input column'} of [${shape}])`,
        { magnitude: m.dora.magnitude.shape, target: shape },
      );
    }
    weight = tensor(shape, doraDelta(base.weight, scaled(raw.weight.data, s), m.dora, strength));
  } else {
    weight = tensor(shape, scaled(raw.weight.data, s * strength));
  }
  const result: ModuleDelta = { weight };
  if (raw.bias) {
    const out = base?.bias?.shape ?? [shape[0] ?? 1];
    if (numel(raw.bias.shape) !== numel(out)) {
      throw shapeMismatch(m, `bias delta [${raw.bias.shape}] does not fit the target bias [${out}]`, {
        bias: raw.bias.shape,
        target: out,
      });
    }
    result.bias = tensor(out, scaled(raw.bias.data, s * strength));
  }
  assertFiniteDelta(m, result, opts.source);
  return result;
}

export interface AdapterTerm {
  module: AdapterModule;
  coefficient: number;
  source?: string;
}

/** W0 + Σ_i deltaWeight(module_i, W0, c_i) (and the same for the bias). Inputs are not mutated. */
export function applyAdapters(base: BaseParams | F32Tensor, terms: readonly AdapterTerm[]): BaseParams {
  const b: BaseParams = 'data' in base ? { weight: base } : base;
  const weight = new Float32Array(b.weight.data);
  let bias = b.bias ? new Float32Array(b.bias.data) : undefined;
  let biasShape = b.bias?.shape;
  for (const t of terms) {
    const d = deltaWeight(t.module, b, t.coefficient, t.source ? { source: t.source } : {});
    for (let i = 0; i < weight.length; i++) weight[i]! += d.weight.data[i]!;
    if (d.bias) {
      bias ??= new Float32Array(d.bias.data.length);
      biasShape ??= d.bias.shape;
      for (let i = 0; i < bias.length; i++) bias[i]! += d.bias.data[i]!;
    }
  }
  const out: BaseParams = { weight: tensor(b.weight.shape, weight) };
  if (bias && biasShape) out.bias = tensor(biasShape, bias);
  return out;
}

/** Key suffixes per canonical factor, from the readers' rule tables (to name a key in reports). */
const SUFFIX_RULES = [...PEFT_SUFFIXES, ...KOHYA_SUFFIXES, ...LYCORIS_SUFFIXES, ...DIFFUSERS_2023_SUFFIXES];
/** Attention-processor keys (`to_q_lora.down.weight`) have no suffix table: their last words. */
const ATTN_PROC_SUFFIXES: Record<string, string> = { down: '.down.weight', up: '.up.weight' };

/** The file key a factor was read from (all keys of the module when it cannot tell). */
export function factorKey(m: AdapterModule, name: string): string {
  const suffixes = SUFFIX_RULES.filter((r) => r.factor === name).map((r) => r.suffix);
  const fallback = ATTN_PROC_SUFFIXES[name];
  if (fallback) suffixes.push(fallback);
  for (const suffix of suffixes) {
    const key = m.sourceKeys.find((k) => k.endsWith(suffix));
    if (key) return key;
  }
  return m.sourceKeys.join(', ');
}

/** Refuses a delta with NaN/Inf, naming the file, the module and the offending key. */
function assertFiniteDelta(m: AdapterModule, d: ModuleDelta, source?: string): void {
  const bad = countNonFinite(d.weight.data) + (d.bias ? countNonFinite(d.bias.data) : 0);
  if (bad === 0) return;
  const culprits = findNonFinite({ source: source ?? '', modules: [m], unmapped: [], metadata: {} }).map(
    (c) => ({
      ...c,
      key: factorKey(m, c.factor),
    }),
  );
  const file = source ?? 'the LoRA file';
  const what =
    culprits.length > 0
      ? `key ${culprits.map((c) => `'${c.key}' (${c.count} NaN/Inf values)`).join(', ')}`
      : `keys ${m.sourceKeys.join(', ')} (its factors are finite: the product or the DoRA normalisation overflows float32 or divides by a zero norm)`;
  throw new LorafuseError(
    'lora-nonfinite',
    `${file}: module ${moduleId(m)} would put ${bad} NaN/Inf values into the weights: ${what}. Merging was refused; repair or re-export the file.`,
    { file: source, module: moduleId(m), keys: culprits.map((c) => c.key), culprits, count: bad },
  );
}
