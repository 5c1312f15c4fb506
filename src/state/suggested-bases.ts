/**
 * Base models the Model panel suggests. Sizes are the float32 safetensors files lorafuse downloads
 * (UNet, text encoder(s), VAE; `model.ts` prefers them over fp16 variants), rounded, as the Hub
 * lists them; the listing (List files) shows the exact bytes.
 */
export interface SuggestedBase {
  repo: string;
  /** What it is, in a few words. */
  label: string;
  /** Approximate download, bytes; null when the listing is the only source (fixtures). */
  approxBytes: number | null;
}

const GB = 1e9;

export const SUGGESTED_BASES: readonly SuggestedBase[] = [
  {
    repo: 'stable-diffusion-v1-5/stable-diffusion-v1-5',
    label: 'SD 1.5, the base most LoRAs target',
    approxBytes: 4.3 * GB,
  },
  {
    repo: 'SimianLuo/LCM_Dreamshaper_v7',
    label: 'SD 1.5 LCM: 4-8 steps with the LCM scheduler',
    approxBytes: 4.3 * GB,
  },
  { repo: 'stabilityai/sd-turbo', label: 'SD-Turbo (SD 2.1): 1-4 steps, guidance 0', approxBytes: 5.2 * GB },
  { repo: 'stabilityai/stable-diffusion-xl-base-1.0', label: 'SDXL base 1.0', approxBytes: 13.9 * GB },
];

/** The tiny test pipelines of a local Hub (tests/hub-server.ts), offered when the Hub is not huggingface.co. */
export const FIXTURE_BASES: readonly SuggestedBase[] = [
  { repo: 'fixtures/tiny-sd15', label: 'tiny SD 1.5 test pipeline', approxBytes: null },
  { repo: 'fixtures/tiny-sdxl', label: 'tiny SDXL test pipeline', approxBytes: null },
];

/** The suggestions for a Hub: the real bases, and the fixtures on any other Hub than huggingface.co. */
export function suggestedBases(hubUrl: string): SuggestedBase[] {
  let host = '';
  try {
    host = new URL(hubUrl).hostname;
  } catch {
    // An unusable Hub URL: the real bases only; the Hub calls will say what is wrong.
  }
  return host === 'huggingface.co' ? [...SUGGESTED_BASES] : [...SUGGESTED_BASES, ...FIXTURE_BASES];
}
