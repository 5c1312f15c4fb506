/**
 * Where `loadLoraWeights` reads a LoRA from: bytes already in memory, a browser `File`/`Blob`, or
 * a Hub-shaped repo (`{repo, weightName?}`) through a reader the caller provides (the Hub client,
 * the cache, or a local folder). Only safetensors are read (DESIGN.md decision 9).
 * The naming rules here (`refuseNonSafetensors`, `pickWeightName`) are also those of the CLI's
 * `--lora` (cli/lora-source.ts) and the engine's LoRA reads (engine/lora-bytes.ts).
 */
import { LorafuseError } from '../../../errors.ts';

export type LoraSource =
  | { bytes: Uint8Array; name: string }
  | { file: Blob & { readonly name?: string } }
  | { repo: string; weightName?: string };

/** The part of a `ModelSource` (io/model-source.ts) a LoRA repo needs. */
export interface RepoReader {
  list(): Promise<string[]>;
  readBytes(path: string): Promise<Uint8Array>;
  describe: string;
}

export type OpenRepo = (repo: string) => RepoReader | Promise<RepoReader>;

/** Diffusers' default file name for a LoRA in a repo. */
export const DEFAULT_WEIGHT_NAME = 'pytorch_lora_weights.safetensors';

const SAFETENSORS = /\.safetensors$/i;
const PICKLE = /\.(bin|ckpt|pt|pth|pkl)$/i;

export const isSafetensorsName = (name: string): boolean => SAFETENSORS.test(name);
export const isPickleName = (name: string): boolean => PICKLE.test(name);

/** Refuses a LoRA file not named `.safetensors`; `label` is what the message calls it. */
export function refuseNonSafetensors(name: string, label = name): void {
  if (!isSafetensorsName(name)) {
    throw new LorafuseError(
      'pickle-refused',
      `${label}: only .safetensors LoRA files are read (pickle files such as .bin/.ckpt/.pt can run code when loaded). Convert it to safetensors first.`,
      { file: name },
    );
  }
}

/**
 * The weight file of a LoRA repo (or folder) when none is named: Diffusers' default name if
 * present, else the only top-level safetensors file (else the only one at all); none or several
 * is an error naming `where` and the files, ending with `hint` (how to name one).
 */
export function pickWeightName(
  files: readonly string[],
  where: string,
  hint = 'pass weightName to pick one',
  rule: 'diffusers' | 'only-one' = 'diffusers',
): string {
  const candidates = files.filter(isSafetensorsName);
  const top = candidates.filter((f) => !f.includes('/'));
  // 'only-one' (the CLI's documented rule): exactly one .safetensors anywhere, no default name.
  if (rule === 'diffusers' && candidates.includes(DEFAULT_WEIGHT_NAME)) return DEFAULT_WEIGHT_NAME;
  const pool = rule === 'only-one' || top.length === 0 ? candidates : top;
  if (pool.length === 1 && pool[0]) return pool[0];
  if (pool.length === 0) {
    const pickles = files.filter(isPickleName);
    if (pickles.length > 0) {
      throw new LorafuseError(
        'pickle-refused',
        `${where} holds only pickle weights (${pickles.join(', ')}); lorafuse reads .safetensors only.`,
        { where, files: pickles },
      );
    }
    throw new LorafuseError('hub-not-found', `${where} has no .safetensors file.`, {
      where,
      files: [...files],
    });
  }
  throw new LorafuseError(
    'invalid-argument',
    `${where} holds ${pool.length} .safetensors files (${pool.join(', ')}), several safetensors and no ${DEFAULT_WEIGHT_NAME}; ${hint}.`,
    { where, candidates: pool },
  );
}

/** Reads the bytes of a LoRA source; `name` is what messages call it. */
export async function readLoraSource(
  src: LoraSource,
  openRepo?: OpenRepo,
): Promise<{ name: string; bytes: Uint8Array }> {
  if ('bytes' in src) {
    refuseNonSafetensors(src.name);
    return { name: src.name, bytes: src.bytes };
  }
  if ('file' in src) {
    const name = src.file.name ?? 'lora.safetensors';
    refuseNonSafetensors(name);
    return { name, bytes: new Uint8Array(await src.file.arrayBuffer()) };
  }
  if (!openRepo) {
    throw new LorafuseError(
      'invalid-argument',
      `loadLoraWeights({repo: '${src.repo}'}): this adapter manager has no repo reader; create it with openRepo (Hub access) or pass the file's bytes.`,
      { repo: src.repo },
    );
  }
  const repo = await openRepo(src.repo);
  const weightName = src.weightName ?? pickWeightName(await repo.list(), repo.describe);
  refuseNonSafetensors(weightName);
  return { name: `${repo.describe}/${weightName}`, bytes: await repo.readBytes(weightName) };
}
