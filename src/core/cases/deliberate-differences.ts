/**
 * Outputs where lorafuse deliberately differs from Diffusers (tests/fixtures/README.md, "Where
 * lorafuse deliberately differs from Diffusers"): the case stores Diffusers' output under the
 * name, and also the output that expresses lorafuse's rule under another name; a comparison uses
 * that one. The README's list wins over the case's `checks`, which record Diffusers' quirk.
 */

export interface DeliberateDifference {
  /** The stored output lorafuse's output must equal. */
  reference: string;
  /** Which point of the README's list, and what it says. */
  why: string;
}

const FUSE_SCALE =
  'README point 1: after fuse_lora(lora_scale) + unfuse_lora the adapter is live again at its set_adapters weight (Diffusers keeps lora_scale)';
const FUSED_AND_LIVE =
  'README point 2: a fused adapter and an active one both apply (Diffusers skips the active one on fused layers)';

export const DELIBERATE_DIFFERENCES: Readonly<
  Record<string, Readonly<Record<string, DeliberateDifference>>>
> = {
  'tiny-sd15_unet_fuse_lora_scale': { after_unfuse: { reference: 'unfused_1.0', why: FUSE_SCALE } },
  'tiny-sd15_unet_fuse_adapter_names': {
    a_fused_b_active: { reference: 'ab_unfused', why: FUSED_AND_LIVE },
    a_fused_only_b_set: { reference: 'ab_unfused', why: FUSED_AND_LIVE },
  },
};

/** The deliberate difference of one output of a case, if it has one. */
export function deliberateDifference(caseName: string, output: string): DeliberateDifference | undefined {
  return DELIBERATE_DIFFERENCES[caseName]?.[output];
}
