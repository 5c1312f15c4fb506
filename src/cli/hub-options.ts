/** Hub options from the environment, as every CLI command reads them: HF_TOKEN, HF_ENDPOINT, LORAFUSE_CACHE_DIR. */
import { defaultHubCacheDir, FsHubCache } from '../core/io/hub/fs-cache.ts';
import type { HubOptions } from '../core/io/hub.ts';

export function cliHubOptions(env: Record<string, string | undefined> = process.env): HubOptions {
  return {
    cache: new FsHubCache(defaultHubCacheDir(env)),
    ...(env.HF_TOKEN ? { token: env.HF_TOKEN } : {}),
    ...(env.HF_ENDPOINT ? { hubUrl: env.HF_ENDPOINT } : {}),
  };
}
