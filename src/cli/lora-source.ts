/**
 * The `SOURCE` of `lorafuse generate --lora SOURCE[:W]`, resolved to one safetensors file:
 * - a local file (`style.safetensors`), or a local folder (its file picked as for a repo);
 * - a file on the Hub, `REPO/FILE.safetensors` (`namespace/name/sub/file.safetensors`);
 * - a Hub repo, `REPO` (`namespace/name`) holding exactly one `.safetensors` (`pickWeightName`'s
 *   'only-one' rule); otherwise the error lists them, so the user can write `REPO/FILE.safetensors`.
 * An existing local path wins over a Hub reading. The adapter is named after the file's stem.
 * Hub access honours `HF_ENDPOINT`, `HF_TOKEN` and the lorafuse cache (`LORAFUSE_CACHE_DIR`), as
 * every CLI command does (base-model.ts).
 */
import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { type HubOptions, isValidRepoId } from '../core/io/hub.ts';
import { HubModelSource, LocalFolderSource, type ModelSource } from '../core/io/model-source.ts';
import {
  isPickleName,
  isSafetensorsName,
  pickWeightName,
  refuseNonSafetensors,
} from '../core/pipeline/adapters/lora-source.ts';
import { isLorafuseError, LorafuseError } from '../errors.ts';
import { cliHubOptions } from './hub-options.ts';

export interface ResolvedLora {
  /** The adapter name: the file's stem (`style` for `.../style.safetensors`). */
  name: string;
  /** Where it came from, for messages (`path`, or `repo@rev on hub/FILE`). */
  file: string;
  bytes: Uint8Array;
}

/** `style` for `a/b/style.safetensors`. */
function adapterStem(path: string): string {
  return basename(path).replace(/\.safetensors$/i, '');
}

function refusePickle(source: string): void {
  if (isPickleName(source)) refuseNonSafetensors(source, `--lora ${source}`);
}

/** The only LoRA file of a repo or folder; with several, the error lists them and says how to name one. */
function pickFile(files: readonly string[], where: string, source: string): string {
  return pickWeightName(
    files,
    `--lora ${source}: ${where}`,
    `name one, e.g. --lora ${source}/FILE.safetensors`,
    'only-one',
  );
}

async function fromRepo(src: ModelSource, path: string): Promise<ResolvedLora> {
  return { name: adapterStem(path), file: `${src.describe}/${path}`, bytes: await src.readBytes(path) };
}

async function localKind(path: string): Promise<'file' | 'dir' | undefined> {
  try {
    const s = await stat(path);
    return s.isDirectory() ? 'dir' : 'file';
  } catch {
    return undefined;
  }
}

/**
 * Runs a Hub read for a SOURCE that is not a local path; an error says so, since the user may
 * have meant a local file.
 */
async function onHub<T>(source: string, what: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (e) {
    if (!isLorafuseError(e)) throw e;
    throw new LorafuseError(
      e.code,
      `--lora ${source}: no such local path, so it was read as ${what}: ${e.message}`,
      { ...e.details, source },
      { cause: e },
    );
  }
}

/** A Hub `REPO/FILE.safetensors`; a missing file is reported with the repo's safetensors files. */
async function hubFile(repo: string, path: string, hub: HubOptions): Promise<ResolvedLora> {
  const src = new HubModelSource(repo, hub);
  try {
    return await fromRepo(src, path);
  } catch (e) {
    if (!isLorafuseError(e) || e.code !== 'hub-not-found') throw e;
    const have = (await src.list().catch(() => [] as string[])).filter((f) => isSafetensorsName(f));
    throw new LorafuseError(
      'hub-not-found',
      `${src.describe} has no file '${path}'${have.length > 0 ? `; its .safetensors files: ${have.join(', ')}` : ''}.`,
      { repo, path, files: have },
      { cause: e },
    );
  }
}

export async function resolveLoraSource(
  source: string,
  hub: HubOptions = cliHubOptions(),
): Promise<ResolvedLora> {
  const local = await localKind(source);
  if (local === 'file') {
    refusePickle(source);
    if (!isSafetensorsName(source)) {
      throw new LorafuseError(
        'invalid-argument',
        `--lora ${source}: a LoRA file must be a .safetensors file.`,
        { source },
      );
    }
    return { name: adapterStem(source), file: source, bytes: new Uint8Array(await readFile(source)) };
  }
  if (local === 'dir') {
    const src = new LocalFolderSource(source);
    return fromRepo(src, pickFile(await src.list(), `the folder ${source}`, source));
  }
  refusePickle(source);
  if (isSafetensorsName(source)) {
    const parts = source.split('/');
    const repo = parts.slice(0, 2).join('/');
    if (parts.length < 3 || !isValidRepoId(repo)) {
      throw new LorafuseError(
        'invalid-argument',
        `--lora ${source}: no such local file, and not a Hub file either (write REPO/FILE.safetensors, e.g. namespace/name/style.safetensors).`,
        { source },
      );
    }
    const path = parts.slice(2).join('/');
    return onHub(source, `the file '${path}' of the Hub repo ${repo}`, () => hubFile(repo, path, hub));
  }
  if (!isValidRepoId(source)) {
    throw new LorafuseError(
      'invalid-argument',
      `--lora ${source}: no such local file or folder, and not a Hub repo id (namespace/name) or REPO/FILE.safetensors.`,
      { source },
    );
  }
  const src = new HubModelSource(source, hub);
  const files = await onHub(source, 'a Hub repo id', () => src.list());
  return fromRepo(src, pickFile(files, src.describe, source));
}
