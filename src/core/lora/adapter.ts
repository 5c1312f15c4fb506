/**
 * The canonical adapter model (DESIGN.md decision 5). Every LoRA file format converts into this on
 * load; everything downstream (CPU oracle, GPU kernels, hotswap, combination, writers) sees only it.
 *
 * Factors are float32, upcast from the file's dtype. Shapes follow the file's own tensors, except
 * that kohya/PEFT naming differences are gone. Per kind, the factor names are:
 *
 * | kind           | factors (shapes)                                                               | scale          |
 * |----------------|--------------------------------------------------------------------------------|----------------|
 * | `lora`         | `down` [r,in] or [r,in,kh,kw]; `up` [out,r] or [out,r,1,1]; `bias`? [out]     | alpha / rank   |
 * | `locon-tucker` | `down` [r,in,1,1]; `mid` [r,r,kh,kw]; `up` [out,r,1,1]                         | alpha / rank   |
 * | `loha`         | `w1a` [out,r], `w1b` [r,in*k*k], `w2a`, `w2b`; Tucker: `t1`,`t2` [r,r,kh,kw]   | alpha / rank   |
 * | `lokr`         | `w1` or (`w1a`,`w1b`); `w2` or (`w2a`,`w2b`[,`t2`])                            | alpha / rank, 1 when w1 and w2 are full |
 * | `full`         | `diff` [weight shape]; `diffBias`? [out]                                       | 1              |
 * | `norm`         | `wNorm` [C]; `bNorm`? [C]                                                      | 1              |
 *
 * What convert.ts guarantees beyond the table: `alpha` is resolved (a file alpha of 0 or none is
 * stored as the rank; PEFT `lora_alpha`/`alpha_pattern` applied; rsLoRA stored as alpha*sqrt(r),
 * so alpha / rank is always the scale); `full`, `norm` and two-full-factor `lokr` modules have
 * alpha = rank = 1. LoHa Tucker keeps LyCORIS's `w1a`/`w2a` [r,out] and `w1b`/`w2b` [r,in];
 * conv LoKr's `w2b` may be [r,d*kh*kw] or [r,d,kh,kw] (both occur). A 1x1 conv may carry
 * linear-shaped factors and vice versa (validate.ts accepts both).
 */

export type Component = 'unet' | 'text_encoder' | 'text_encoder_2';

export const COMPONENTS: readonly Component[] = ['unet', 'text_encoder', 'text_encoder_2'];

export type AdapterKind = 'lora' | 'locon-tucker' | 'loha' | 'lokr' | 'full' | 'norm';

/** A dense float32 tensor, row-major. */
export interface F32Tensor {
  shape: number[];
  data: Float32Array;
}

/**
 * Weight decomposition (DoRA). `axis: 'out'` is one magnitude per output row ([out] PEFT,
 * [out,1] / [out,1,1,1] LyCORIS); `axis: 'in'` one per input column ([1,in], older LyCORIS).
 * `style` selects the strength semantics (fixtures README, "deliberately differs", point 3):
 * `peft` is PEFT's formula, `lycoris` is the A1111/ComfyUI interpolation.
 */
export interface DoraSpec {
  magnitude: F32Tensor;
  axis: 'out' | 'in';
  style: 'peft' | 'lycoris';
}

/** The file format a module was read from, for reports and for writers that keep it. */
export type SourceFormat =
  | 'peft'
  | 'diffusers-2023'
  | 'diffusers-attn-proc'
  | 'kohya'
  | 'lycoris'
  | 'raw-peft';

export interface AdapterModule {
  component: Component;
  /** Diffusers module path inside the component, e.g. `down_blocks.0.attentions.0.proj_in`. */
  module: string;
  kind: AdapterKind;
  factors: Record<string, F32Tensor>;
  /** Alpha as stored (absent or 0 in the file means alpha = rank). */
  alpha: number;
  rank: number;
  dora?: DoraSpec;
  format: SourceFormat;
  /** The file keys this module was built from (for reports and coverage checks). */
  sourceKeys: string[];
}

/** A key of the file that maps to no module, and why. */
export interface UnmappedKey {
  key: string;
  reason: string;
}

export interface CanonicalAdapter {
  /** File name or URL, for error messages. */
  source: string;
  modules: AdapterModule[];
  unmapped: UnmappedKey[];
  /** The safetensors `__metadata__`, as stored. */
  metadata: Record<string, string>;
}

/** Stable identity of a module across adapters: `unet.down_blocks.0.attentions.0.proj_in`. */
export function moduleId(m: Pick<AdapterModule, 'component' | 'module'>): string {
  return `${m.component}.${m.module}`;
}
