/**
 * A `ModelSource` over HTTP (browser-safe: only `fetch`): files under `baseUrl`, with the file
 * list given up front (a static server has no directory listing). The case runner's `root` in the
 * browser: tests/browser/cases-page.ts reads the fixture set the test serves next to the page.
 */

import type { ModelSource } from '../../src/core/io/model-source.ts';
import { LorafuseError } from '../../src/errors.ts';

export class HttpFolderSource implements ModelSource {
  readonly describe: string;
  private readonly files: readonly string[];

  /** `baseUrl` ends with '/'; `files` are '/'-separated paths relative to it. */
  constructor(
    private readonly baseUrl: string,
    files: readonly string[],
  ) {
    this.describe = baseUrl;
    this.files = [...files].sort();
  }

  async readBytes(path: string): Promise<Uint8Array> {
    if (path.split('/').some((p) => p === '..')) {
      throw new LorafuseError(
        'invalid-argument',
        `'${path}' leaves ${this.baseUrl}; give a path inside it.`,
        {
          path,
        },
      );
    }
    const url = new URL(path, this.baseUrl).href;
    const res = await fetch(url);
    if (res.status === 404) {
      throw new LorafuseError('hub-not-found', `File '${path}' was not found at ${url} (HTTP 404).`, {
        path,
        url,
      });
    }
    if (!res.ok) {
      throw new LorafuseError('internal', `GET ${url}: HTTP ${res.status}; is the fixture server running?`, {
        path,
        url,
        status: res.status,
      });
    }
    return new Uint8Array(await res.arrayBuffer());
  }

  async readText(path: string): Promise<string> {
    return new TextDecoder().decode(await this.readBytes(path));
  }

  async list(): Promise<string[]> {
    return [...this.files];
  }
}
