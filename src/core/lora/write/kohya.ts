/**
 * Writes a canonical adapter as a kohya / LyCORIS safetensors file (LORA-FORMATS.md 1.1 rows 5-11):
 * module names `lora_unet_<path>` / `lora_te_<path>` (SD1.x/2.x: diffusers UNet names) or
 * `lora_unet_<sgm path>` / `lora_te1_` / `lora_te2_` (SDXL, as sd-scripts writes it), with `.`
 * flattened to `_`; factor suffixes from the reader's tables; `.alpha` as a 0-d float32 scalar
 * (alpha as it applies: a file's absent/0 alpha is written as the rank).
 *
 * Every canonical kind can be written. DoRA becomes `dora_scale` ([out,1(,1,1)] or [1,in(,1,1)]);
 * a PEFT-style magnitude turns into LyCORIS semantics, which agree at strength 1 (3.5).
 * A `lora_B.bias` has no kohya spelling and is refused.
 */
import { LorafuseError } from '../../../errors.ts';
import type { UNetConfig } from '../../graph/config/unet-config.ts';
import { type TensorToWrite, writeSafetensors } from '../../io/safetensors.ts';
import {
  type AdapterModule,
  type CanonicalAdapter,
  type Component,
  type F32Tensor,
  moduleId,
} from '../adapter.ts';
import { KOHYA_PREFIXES, KOHYA_SUFFIXES } from '../formats/kohya.ts';
import { flatten } from '../formats/kohya-index.ts';
import { ldmBlockNames, toLdmPath } from '../formats/ldm-names.ts';
import { LYCORIS_SUFFIXES } from '../formats/lycoris.ts';
import { numel } from '../math/tensor.ts';
import { effectiveAlpha } from '../merge-cpu.ts';
import { loraFactorShapes, mostCommon, type WriteOptions } from './peft.ts';
import { roleOfKind, suffixFor } from './suffix.ts';

export type ModelFamily = 'sd' | 'sdxl';

export interface KohyaWriteOptions extends WriteOptions {
  /** Default: 'sdxl' when the adapter or the inventories have a `text_encoder_2`. */
  family?: ModelFamily;
  /** The base UNet's config: SDXL UNet modules are written with their LDM/sgm names. */
  unet?: UNetConfig | null;
}

const SUFFIXES = [...KOHYA_SUFFIXES, ...LYCORIS_SUFFIXES];

function prefixOf(component: Component, family: ModelFamily): string {
  const wanted =
    component === 'unet'
      ? 'lora_unet_'
      : component === 'text_encoder_2'
        ? 'lora_te2_'
        : family === 'sdxl'
          ? 'lora_te1_'
          : 'lora_te_';
  const rule = KOHYA_PREFIXES.find((r) => r.prefix === wanted && r.component === component);
  if (!rule) throw new LorafuseError('internal', `no kohya prefix for ${component}`, { component });
  return rule.prefix;
}

type LdmNames = ReturnType<typeof ldmBlockNames>;

/** The kohya module name (`lora_unet_down_blocks_0_...`) of a canonical module. */
function kohyaModuleName(m: AdapterModule, family: ModelFamily, ldm: LdmNames | null): string {
  let path = m.module;
  if (m.component === 'unet' && family === 'sdxl') {
    const alias = ldm ? toLdmPath(m.module, ldm) : null;
    if (alias === null) {
      throw new LorafuseError(
        'lora-unmapped-keys',
        ldm
          ? `module ${moduleId(m)} has no SDXL (sgm) name in this UNet`
          : `module ${moduleId(m)}: SDXL kohya files use sgm UNet names, which depend on the UNet's layout; give the base model (--base)`,
        { module: moduleId(m) },
      );
    }
    path = alias;
  }
  return `${prefixOf(m.component, family)}${flatten(path)}`;
}

/** Rank of the target weight: 4 for a conv, 2 for a linear, 1 for a norm. */
function weightDims(m: AdapterModule, target?: readonly number[]): number {
  if (target) return target.length;
  const f = m.factors;
  switch (m.kind) {
    case 'lora':
    case 'locon-tucker':
      return f.down?.shape.length ?? 2;
    case 'loha':
      return f.t1 ? 4 : 2;
    case 'lokr':
      return f.t2 || (f.w2 && f.w2.shape.length === 4) ? 4 : 2;
    case 'full':
      return f.diff?.shape.length ?? 2;
    default:
      return 1;
  }
}

function doraScaleShape(m: AdapterModule, dims: number): number[] {
  const count = numel(m.dora!.magnitude.shape);
  const ones = dims === 4 ? [1, 1] : [];
  return m.dora!.axis === 'out' ? [count, 1, ...ones] : [1, count, ...ones];
}

function moduleTensors(m: AdapterModule, name: string, target?: readonly number[]): TensorToWrite[] {
  const role = roleOfKind(m.kind);
  const out: TensorToWrite[] = [];
  const put = (factor: string, t: F32Tensor, shape: number[] = [...t.shape], r = role) =>
    out.push({ name: `${name}${suffixFor(SUFFIXES, r, factor)}`, dtype: 'F32', shape, data: t.data });
  if (m.factors.bias) {
    throw new LorafuseError(
      'not-implemented',
      `module ${moduleId(m)} has a LoRA bias (lora_B.bias), which kohya files cannot hold; keep it in PEFT format`,
      { module: moduleId(m), keys: m.sourceKeys },
    );
  }
  if (m.kind === 'lora') {
    const shapes = loraFactorShapes(m, target);
    put('down', m.factors.down!, shapes.down);
    put('up', m.factors.up!, shapes.up);
  } else {
    for (const [factor, t] of Object.entries(m.factors)) put(factor, t);
  }
  if (m.kind !== 'full' && m.kind !== 'norm') {
    put('alpha', { shape: [], data: Float32Array.of(effectiveAlpha(m)) }, [], 'alpha');
  }
  if (m.dora) put('magnitude', m.dora.magnitude, doraScaleShape(m, weightDims(m, target)), 'dora');
  return out;
}

function defaultFamily(adapter: CanonicalAdapter, opts: KohyaWriteOptions): ModelFamily {
  const hasTe2 =
    adapter.modules.some((m) => m.component === 'text_encoder_2') ||
    opts.inventories?.text_encoder_2 !== undefined;
  return hasTe2 ? 'sdxl' : 'sd';
}

export function writeKohya(adapter: CanonicalAdapter, opts: KohyaWriteOptions = {}): Uint8Array {
  const family = opts.family ?? defaultFamily(adapter, opts);
  const ldm = opts.unet ? ldmBlockNames(opts.unet) : null;
  const tensors: TensorToWrite[] = [];
  const seen = new Map<string, string>();
  for (const m of adapter.modules) {
    const name = kohyaModuleName(m, family, ldm);
    const other = seen.get(name);
    if (other) {
      throw new LorafuseError(
        'lora-invalid',
        `modules ${other} and ${moduleId(m)} both map to the kohya name ${name}`,
        {
          name,
        },
      );
    }
    seen.set(name, moduleId(m));
    tensors.push(...moduleTensors(m, name, opts.inventories?.[m.component]?.get(m.module)?.weight));
  }
  const lycoris = adapter.modules.some((m) => m.kind !== 'lora' || m.dora !== undefined);
  const ranked = adapter.modules.filter((m) => m.kind !== 'full' && m.kind !== 'norm');
  const metadata: Record<string, string> = { ss_network_module: lycoris ? 'lycoris.kohya' : 'networks.lora' };
  if (family === 'sdxl') metadata.ss_base_model_version = 'sdxl_base_v1-0';
  if (ranked.length > 0) {
    metadata.ss_network_dim = String(mostCommon(ranked.map((m) => m.rank)));
    metadata.ss_network_alpha = String(mostCommon(ranked.map(effectiveAlpha)));
  }
  return writeSafetensors(tensors, metadata);
}
