/**
 * A model as a Hub repo (browser-safe: no node:fs): reads only what is asked, pinned to one commit,
 * through the cache when one is given, with byte progress per file.
 */
import {
  DEFAULT_HUB_URL,
  type DownloadProgress,
  downloadFile,
  type HubOptions,
  listRepoFiles,
  resolveRevision,
} from './hub.ts';

export interface ModelSource {
  readText(path: string): Promise<string>;
  readBytes(path: string): Promise<Uint8Array>;
  /** Every file, as '/'-separated paths relative to the model root. */
  list(): Promise<string[]>;
  /** For messages: the folder, or 'repo@revision on hubUrl'. */
  describe: string;
}

export interface HubModelSourceOptions extends HubOptions {
  /** Bytes of each file read so far (`path` names the file). */
  onProgress?: (p: DownloadProgress) => void;
}

export class HubModelSource implements ModelSource {
  readonly describe: string;
  private pinned: Promise<HubOptions> | undefined;

  constructor(
    readonly repo: string,
    private readonly opts: HubModelSourceOptions = {},
  ) {
    this.describe = `${repo}@${opts.revision ?? 'main'} on ${opts.hubUrl ?? DEFAULT_HUB_URL}`;
  }

  /** Resolves the revision once, so every read of this source sees the same commit. */
  private options(): Promise<HubOptions> {
    const { onProgress: _progress, ...hub } = this.opts;
    this.pinned ??= resolveRevision(this.repo, hub).then((commit) => ({ ...hub, revision: commit }));
    return this.pinned;
  }

  async readBytes(path: string): Promise<Uint8Array> {
    const blob = await downloadFile(this.repo, path, {
      ...(await this.options()),
      ...(this.opts.onProgress ? { onProgress: this.opts.onProgress } : {}),
    });
    return new Uint8Array(await blob.arrayBuffer());
  }

  async readText(path: string): Promise<string> {
    return new TextDecoder().decode(await this.readBytes(path));
  }

  async list(): Promise<string[]> {
    const entries = await listRepoFiles(this.repo, await this.options());
    return entries
      .filter((e) => e.type === 'file')
      .map((e) => e.path)
      .sort();
  }
}
