/** Hub repo ids, file paths and revisions: validation before anything reaches the network or the cache. */
import { LorafuseError } from '../../../errors.ts';

const SEGMENT = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?$/;
const COMMIT = /^[0-9a-f]{40}$/;

/** True for `name` or `namespace/name` with the Hub's allowed characters (no `--`, no `..`). */
export function isValidRepoId(repo: string): boolean {
  const parts = repo.split('/');
  if (parts.length < 1 || parts.length > 2) return false;
  return parts.every((p) => SEGMENT.test(p) && !p.includes('--') && !p.includes('..'));
}

export function assertRepoId(repo: string): void {
  if (repo.startsWith('models/') || repo.startsWith('model/')) {
    throw new LorafuseError(
      'hub-invalid-repo',
      `'${repo}' is not a model repo id: drop the 'models/' prefix (write 'namespace/name', e.g. 'stabilityai/sdxl-turbo')`,
      { repo },
    );
  }
  if (!isValidRepoId(repo)) {
    throw new LorafuseError(
      'hub-invalid-repo',
      `'${repo}' is not a valid Hub repo id: expected 'namespace/name' (letters, digits, '-', '_', '.'), e.g. 'stabilityai/sdxl-turbo'`,
      { repo },
    );
  }
}

/** A path inside a repo: relative, '/'-separated, no '.'/'..' segments (it becomes a cache path). */
export function assertRepoPath(repo: string, path: string): void {
  const bad =
    path.length === 0 ||
    path.startsWith('/') ||
    path.includes('\\') ||
    path.includes('\0') ||
    path.split('/').some((s) => s === '' || s === '.' || s === '..');
  if (bad) {
    throw new LorafuseError(
      'invalid-argument',
      `'${path}' is not a valid file path in repo '${repo}': use a relative path like 'unet/config.json'`,
      { repo, path },
    );
  }
}

/** A full commit sha: needs no resolution and never moves. */
export function isCommitSha(revision: string): boolean {
  return COMMIT.test(revision);
}

export function assertRevision(repo: string, revision: string): void {
  if (revision.length === 0 || revision.length > 256 || /[\s\0]/.test(revision) || revision.includes('..')) {
    throw new LorafuseError(
      'invalid-argument',
      `'${revision}' is not a valid revision for '${repo}': use a branch ('main'), a tag or a commit sha`,
      { repo, revision },
    );
  }
}
