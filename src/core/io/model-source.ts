/**
 * "DIR_OR_REPO" (Node only: uses node:fs; the Hub part alone is hub-model-source.ts, browser-safe): a model given as a local folder or a Hub repo id, read
 * through one interface. An existing local path wins; anything else is a Hub repo id. The Hub source
 * fetches only what is asked (a config-only read downloads only the config files), through the
 * cache when one is given.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { LorafuseError } from '../../errors.ts';
import { assertRepoPath } from './hub/repo-ref.ts';
import type { HubOptions } from './hub.ts';
import { HubModelSource, type ModelSource } from './hub-model-source.ts';

export { HubModelSource, type ModelSource };

export async function resolveModelSource(dirOrRepo: string, opts: HubOptions = {}): Promise<ModelSource> {
  const local = await statOrUndefined(dirOrRepo);
  if (local?.isDirectory()) return new LocalFolderSource(resolve(dirOrRepo));
  if (local) {
    throw new LorafuseError(
      'invalid-argument',
      `'${dirOrRepo}' is a file; give the model's folder (the one holding model_index.json) or a Hub repo id`,
      { path: dirOrRepo },
    );
  }
  return new HubModelSource(dirOrRepo, opts);
}

export class LocalFolderSource implements ModelSource {
  readonly describe: string;

  constructor(readonly dir: string) {
    this.describe = dir;
  }

  private pathOf(path: string): string {
    assertRepoPath(this.dir, path);
    return join(this.dir, ...path.split('/'));
  }

  async readBytes(path: string): Promise<Uint8Array> {
    try {
      return new Uint8Array(await readFile(this.pathOf(path)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new LorafuseError(
          'hub-not-found',
          `File '${path}' was not found in the local model folder ${this.dir}`,
          {
            dir: this.dir,
            path,
          },
        );
      }
      throw e;
    }
  }

  async readText(path: string): Promise<string> {
    return new TextDecoder().decode(await this.readBytes(path));
  }

  async list(): Promise<string[]> {
    const out: string[] = [];
    const stack = [this.dir];
    while (stack.length > 0) {
      const dir = stack.pop()!;
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const abs = join(dir, entry.name);
        if (entry.isDirectory()) stack.push(abs);
        else if (entry.isFile()) out.push(relative(this.dir, abs).split(sep).join('/'));
      }
    }
    return out.sort();
  }
}

async function statOrUndefined(path: string) {
  try {
    return await stat(path);
  } catch {
    return undefined;
  }
}
