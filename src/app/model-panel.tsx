import { type FormEvent, useCallback, useEffect, useState } from 'react';
import type { CachedRepo, StorageInfo } from '../api.ts';
import { selectHubUrl } from '../state/slices/settings.ts';
import { useAppStore } from '../state/store.ts';
import { suggestedBases } from '../state/suggested-bases.ts';
import { useActions } from './actions-context.tsx';
import { formatBytes } from './format-bytes.ts';
import { requestPersistentStorage } from './pwa.ts';
import { TextField } from './text-field.tsx';

export function ModelPanel() {
  const actions = useActions();
  const repo = useAppStore((s) => s.modelRepo);
  const revision = useAppStore((s) => s.modelRevision);
  const setRepo = useAppStore((s) => s.setModelRepo);
  const setRevision = useAppStore((s) => s.setModelRevision);
  const loading = useAppStore((s) => s.listingStatus === 'loading');

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    void actions.listModelFiles();
  };

  return (
    <section className="panel" aria-labelledby="model-heading">
      <h2 id="model-heading">Model</h2>
      <form className="row" onSubmit={onSubmit}>
        <TextField
          label="Model repository"
          value={repo}
          onChange={setRepo}
          placeholder="stable-diffusion-v1-5/stable-diffusion-v1-5"
          grow
        />
        <TextField label="Revision" value={revision} onChange={setRevision} placeholder="main" />
        <button type="submit" disabled={loading} aria-busy={loading}>
          List files
        </button>
      </form>
      <SuggestedBases />
      <FileTable />
      <StorageLine />
      <CachedRepos />
    </section>
  );
}

/** A few bases to start from, with their download sizes; Use fills the repo and lists its files. */
function SuggestedBases() {
  const actions = useActions();
  const hubUrl = useAppStore(selectHubUrl);
  const setRepo = useAppStore((s) => s.setModelRepo);
  const setRevision = useAppStore((s) => s.setModelRevision);
  return (
    <details className="suggested" open>
      <summary>Suggested bases</summary>
      <ul className="suggested-bases" aria-label="Suggested bases">
        {suggestedBases(hubUrl).map((b) => (
          <li key={b.repo}>
            <button
              type="button"
              className="secondary"
              aria-label={`Use ${b.repo}`}
              title={b.label}
              onClick={() => {
                setRepo(b.repo);
                setRevision('');
                void actions.listModelFiles();
              }}
            >
              <code>{b.repo}</code> <span className="muted">{b.label}</span>
              {b.approxBytes !== null && (
                <>
                  {' '}
                  <data value={b.approxBytes}>≈{formatBytes(b.approxBytes)}</data>
                </>
              )}
            </button>
          </li>
        ))}
      </ul>
    </details>
  );
}

/**
 * What the Hub cache holds per repo (models and LoRAs), with its size and a Delete button that
 * asks to confirm first. Read again after a load, a listing or a delete.
 */
function CachedRepos() {
  const actions = useActions();
  const files = useAppStore((s) => s.files);
  const load = useAppStore((s) => s.modelLoad.status);
  const loras = useAppStore((s) => s.loras.length);
  const [repos, setRepos] = useState<CachedRepo[] | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [freed, setFreed] = useState<{ repo: string; bytes: number } | null>(null);
  const refresh = useCallback(() => actions.listCachedRepos().then(setRepos), [actions]);

  useEffect(() => {
    void files;
    void load;
    void loras;
    void refresh();
  }, [refresh, files, load, loras]);

  const remove = async (repo: string) => {
    setConfirming(null);
    const bytes = await actions.deleteCachedRepo(repo);
    if (bytes !== null) setFreed({ repo, bytes });
    await refresh();
  };

  if (repos === null) return null;
  return (
    <section className="cached" aria-label="Cached models">
      <h3>Cached for offline use</h3>
      {repos.length === 0 ? (
        <p className="muted">Nothing cached yet: loaded models and read LoRAs are kept here.</p>
      ) : (
        <ul className="cached-repos" aria-label="Cached repositories">
          {repos.map((r) => (
            <li key={r.repo} className="row" aria-label={r.repo}>
              <code className="grow">{r.repo}</code>
              <span className="muted">
                {r.files} file{r.files === 1 ? '' : 's'}
              </span>
              <data value={r.bytes} title={`${r.bytes.toLocaleString('en-US')} bytes`}>
                {formatBytes(r.bytes)}
              </data>
              {confirming === r.repo ? (
                <>
                  <span role="status">Delete {formatBytes(r.bytes)} of cached files?</span>
                  <button type="button" className="danger" onClick={() => void remove(r.repo)}>
                    Confirm delete {r.repo}
                  </button>
                  <button type="button" className="secondary" onClick={() => setConfirming(null)}>
                    Keep
                  </button>
                </>
              ) : (
                <button
                  type="button"
                  className="danger"
                  aria-label={`Delete ${r.repo} from the cache`}
                  onClick={() => setConfirming(r.repo)}
                >
                  Delete
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      {freed && (
        <p className="note" aria-live="polite">
          Deleted {freed.repo}: {formatBytes(freed.bytes)} freed.
        </p>
      )}
    </section>
  );
}

/** Storage used / available for this origin (cached models count here), and a way to keep it. */
function StorageLine() {
  const actions = useActions();
  const files = useAppStore((s) => s.files);
  const load = useAppStore((s) => s.modelLoad.status);
  const loras = useAppStore((s) => s.loras.length);
  const [info, setInfo] = useState<StorageInfo | null | undefined>(undefined);
  const refresh = useCallback(() => actions.readStorage().then(setInfo), [actions]);

  // Listing a repo, loading a model and reading a LoRA fill the cache: read again after each.
  useEffect(() => {
    void files;
    void load;
    void loras;
    void refresh();
  }, [refresh, files, load, loras]);

  const keep = async () => {
    try {
      await requestPersistentStorage();
    } catch (e) {
      actions.reportError(e);
    }
    await refresh();
  };

  if (info === undefined) return null;
  return (
    <section className="note" aria-label="Storage">
      Storage:{' '}
      {info === null ? (
        'unknown (this browser has no Storage API)'
      ) : (
        <>
          <data value={info.usage}>{formatBytes(info.usage)}</data> used of{' '}
          <data value={info.quota}>{formatBytes(info.quota)}</data> available
          {info.hubCacheBytes !== null && <>, {formatBytes(info.hubCacheBytes)} of Hub files cached</>};{' '}
          {info.persisted ? (
            'kept by the browser (persistent)'
          ) : (
            <>
              may be evicted when space runs low{' '}
              <button type="button" onClick={() => void keep()}>
                Keep offline data
              </button>
            </>
          )}
        </>
      )}
    </section>
  );
}

function FileTable() {
  const status = useAppStore((s) => s.listingStatus);
  const files = useAppStore((s) => s.files);
  const listedRepo = useAppStore((s) => s.listedRepo);
  const listedRevision = useAppStore((s) => s.listedRevision);

  if (status === 'loading')
    return (
      <p className="muted" aria-live="polite">
        Listing files…
      </p>
    );
  if (status !== 'done' || !listedRepo) return null;
  const total = files.reduce((sum, f) => sum + (f.type === 'file' ? f.size : 0), 0);
  const where = `${listedRepo}${listedRevision ? `@${listedRevision}` : ''}`;
  return (
    <table className="files" aria-label={`Files of ${where}`}>
      <caption>
        {files.length} entries in <code>{where}</code>, {formatBytes(total)} in all
      </caption>
      <thead>
        <tr>
          <th scope="col">Path</th>
          <th scope="col" className="num">
            Size
          </th>
        </tr>
      </thead>
      <tbody>
        {files.map((f) => (
          <tr key={f.path}>
            <td className="path">{f.type === 'directory' ? `${f.path}/` : f.path}</td>
            <td className="num">
              {f.type === 'file' ? (
                <data value={f.size} title={`${f.size.toLocaleString('en-US')} bytes`}>
                  {formatBytes(f.size)}
                </data>
              ) : (
                <span className="muted">folder</span>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
