import { type FormEvent, useCallback, useEffect, useState } from 'react';
import type { StorageInfo } from '../api.ts';
import { useAppStore } from '../state/store.ts';
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
      <FileTable />
      <StorageLine />
    </section>
  );
}

/** Storage used / available for this origin (cached models count here), and a way to keep it. */
function StorageLine() {
  const actions = useActions();
  const files = useAppStore((s) => s.files);
  const [info, setInfo] = useState<StorageInfo | null | undefined>(undefined);
  const refresh = useCallback(() => actions.readStorage().then(setInfo), [actions]);

  // Listing a repo caches its listing: read again whenever the listed files change.
  useEffect(() => {
    void files;
    void refresh();
  }, [refresh, files]);

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
