/**
 * Where `loadLoraWeights` reads a LoRA from: bytes already in memory, a browser `File`/`Blob`, or
 * a Hub-shaped repo (`{repo, weightName?}`) through a reader the caller provides (the Hub client,
 * the cache, or a local folder). Only safetensors are read (DESIGN.md decision 9).
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

const PICKLE = /\.(bin|ckpt|pt|pth|pkl)$/i;

function refusePickle(name: string): void {
  if (!name.toLowerCase().endsWith('.safetensors')) {
    throw new LorafuseError(
      'pickle-refused',
      `${name}: only .safetensors LoRA files are read (pickle files such as .bin/.ckpt/.pt can run code). Convert it to safetensors first.`,
      { file: name },
    );
  }
}

/**
 * The weight file of a LoRA repo when none is named: Diffusers' default name if present, else
 * the only safetensors file; several candidates are an error listing them.
 */
export function pickWeightName(files: readonly string[], repo: string): string {
  const candidates = files.filter((f) => f.toLowerCase().endsWith('.safetensors'));
  if (candidates.includes(DEFAULT_WEIGHT_NAME)) return DEFAULT_WEIGHT_NAME;
  const top = candidates.filter((f) => !f.includes('/'));
  const pool = top.length > 0 ? top : candidates;
  if (pool.length === 1 && pool[0]) return pool[0];
  if (pool.length === 0) {
    const pickles = files.filter((f) => PICKLE.test(f));
    if (pickles.length > 0) {
      throw new LorafuseError(
        'pickle-refused',
        `${repo} holds only pickle weights (${pickles.join(', ')}); lorafuse reads .safetensors only.`,
        { repo, files: pickles },
      );
    }
    throw new LorafuseError('hub-not-found', `${repo} has no .safetensors file.`, {
      repo,
      files: [...files],
    });
  }
  throw new LorafuseError(
    'invalid-argument',
    `${repo} has several safetensors files (${pool.join(', ')}); pass weightName to pick one.`,
    { repo, candidates: pool },
  );
}

/** Reads the bytes of a LoRA source; `name` is what messages call it. */
export async function readLoraSource(
  src: LoraSource,
  openRepo?: OpenRepo,
): Promise<{ name: string; bytes: Uint8Array }> {
  if ('bytes' in src) {
    refusePickle(src.name);
    return { name: src.name, bytes: src.bytes };
  }
  if ('file' in src) {
    const name = src.file.name ?? 'lora.safetensors';
    refusePickle(name);
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
  refusePickle(weightName);
  return { name: `${repo.describe}/${weightName}`, bytes: await repo.readBytes(weightName) };
}
