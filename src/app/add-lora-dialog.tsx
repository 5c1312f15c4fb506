import { type DragEvent, type FormEvent, useEffect, useId, useRef, useState } from 'react';
import type { RepoFile } from '../api.ts';
import type { AddLoraSource } from '../state/actions.ts';
import { useAppStore } from '../state/store.ts';
import { useActions } from './actions-context.tsx';
import { ErrorAlert } from './error-alert.tsx';
import { formatBytes } from './format-bytes.ts';
import { TextField } from './text-field.tsx';

interface AddLoraDialogProps {
  /** Replace this adapter's file (hotswap) instead of adding a new adapter. */
  replacing?: string;
  /** Prefills the repo field and lists it at once (from a search hit). */
  initialRepo?: string;
  onClose(): void;
}

/** The task line: what is read, and how far. */
export function LoraTaskProgress() {
  const task = useAppStore((s) => s.loraTask);
  if (!task) return null;
  const pct = task.total > 0 ? Math.round((task.loaded / task.total) * 100) : null;
  return (
    <div className="lora-task" aria-live="polite">
      <span>
        Reading <code>{task.file}</code>
        {task.total > 0 ? ` (${formatBytes(task.loaded)} of ${formatBytes(task.total)})` : '…'}
      </span>
      <progress
        aria-label={`Reading ${task.file}`}
        max={task.total > 0 ? task.total : undefined}
        value={task.total > 0 ? task.loaded : undefined}
      >
        {pct === null ? '' : `${pct}%`}
      </progress>
    </div>
  );
}

/**
 * Adds a LoRA (or replaces one's file): from a Hub repo (its .safetensors files are listed to
 * pick the weight name), from a URL, or from a local file (picked or dropped). A modal `<dialog>`:
 * Escape or Cancel closes it.
 */
export function AddLoraDialog({ replacing, initialRepo, onClose }: AddLoraDialogProps) {
  const actions = useActions();
  const dialogRef = useRef<HTMLDialogElement>(null);
  const busy = useAppStore((s) => s.loraTask !== null);
  const [adapterName, setAdapterName] = useState('');
  const [repo, setRepo] = useState(initialRepo ?? '');
  const [revision, setRevision] = useState('');
  const [listing, setListing] = useState<{ repo: string; revision: string; files: RepoFile[] } | null>(null);
  const [listingBusy, setListingBusy] = useState(false);
  const [url, setUrl] = useState('');
  const [dragOver, setDragOver] = useState(false);
  const titleId = useId();
  const verb = replacing ? 'Use' : 'Add';

  useEffect(() => {
    const d = dialogRef.current;
    if (d && !d.open) d.showModal();
  }, []);

  const list = async (id: string, rev: string) => {
    setListingBusy(true);
    const files = await actions.listLoraFiles(id, rev);
    setListingBusy(false);
    setListing(files ? { repo: id.trim(), revision: rev.trim(), files } : null);
  };

  // A search hit opens the dialog on its repo: list it at once.
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs once, for the repo the dialog opened with
  useEffect(() => {
    if (initialRepo) void list(initialRepo, '');
  }, []);

  const submit = async (source: AddLoraSource) => {
    const ok = replacing
      ? await actions.replaceLora(replacing, source)
      : (await actions.addLora(source, adapterName.trim() ? { adapterName } : {})) !== null;
    if (ok) onClose();
  };

  const onList = (e: FormEvent) => {
    e.preventDefault();
    void list(repo, revision);
  };

  const onUrl = (e: FormEvent) => {
    e.preventDefault();
    if (url.trim()) void submit({ url: url.trim() });
  };

  const onFiles = (files: FileList | null) => {
    const file = files?.[0];
    if (file) void submit({ file });
  };

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDragOver(false);
    onFiles(e.dataTransfer.files);
  };

  return (
    <dialog
      ref={dialogRef}
      className="add-lora-dialog"
      aria-labelledby={titleId}
      onClose={onClose}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
    >
      <div className="dialog-head">
        <h3 id={titleId}>{replacing ? `Replace ${replacing} with…` : 'Add a LoRA'}</h3>
        <button type="button" className="icon" aria-label="Close" onClick={onClose}>
          ×
        </button>
      </div>
      {replacing ? (
        <p className="note">
          Hotswap: the new file takes the name <code>{replacing}</code> and keeps its weight, schedule and
          toggle. It may touch the same modules as the current file or fewer.
        </p>
      ) : (
        <TextField
          label="Adapter name (optional)"
          value={adapterName}
          onChange={setAdapterName}
          placeholder="from the file name"
        />
      )}

      <fieldset className="add-source">
        <legend>From a Hub repository</legend>
        <form className="row" onSubmit={onList}>
          <TextField label="LoRA repository" value={repo} onChange={setRepo} placeholder="owner/name" grow />
          <TextField label="LoRA revision" value={revision} onChange={setRevision} placeholder="main" />
          <button type="submit" disabled={listingBusy || busy} aria-busy={listingBusy}>
            List LoRA files
          </button>
        </form>
        {listing && (
          <ul className="lora-files" aria-label={`LoRA files of ${listing.repo}`}>
            {listing.files.length === 0 && (
              <li className="muted">No .safetensors file in {listing.repo} (pickle files are not read).</li>
            )}
            {listing.files.map((f) => (
              <li key={f.path}>
                <span className="path">{f.path}</span>
                <data className="muted" value={f.size}>
                  {formatBytes(f.size)}
                </data>
                <button
                  type="button"
                  disabled={busy}
                  aria-label={`${verb} ${f.path}`}
                  onClick={() =>
                    void submit({
                      repo: listing.repo,
                      weightName: f.path,
                      ...(listing.revision ? { revision: listing.revision } : {}),
                    })
                  }
                >
                  {verb}
                </button>
              </li>
            ))}
          </ul>
        )}
      </fieldset>

      <fieldset className="add-source">
        <legend>From a URL</legend>
        <form className="row" onSubmit={onUrl}>
          <TextField
            label="LoRA URL"
            type="url"
            value={url}
            onChange={setUrl}
            placeholder="https://huggingface.co/owner/name/resolve/main/lora.safetensors"
            grow
          />
          <button type="submit" disabled={busy || !url.trim()}>
            {verb} from URL
          </button>
        </form>
      </fieldset>

      <fieldset className="add-source">
        <legend>From a local file</legend>
        <section
          className={`drop-zone${dragOver ? ' over' : ''}`}
          aria-label="Drop a .safetensors file here"
          onDragOver={(e) => {
            e.preventDefault();
            setDragOver(true);
          }}
          onDragLeave={() => setDragOver(false)}
          onDrop={onDrop}
        >
          <label className="field">
            <span>LoRA file (.safetensors)</span>
            <input
              type="file"
              accept=".safetensors"
              disabled={busy}
              onChange={(e) => {
                onFiles(e.target.files);
                e.target.value = '';
              }}
            />
          </label>
          <span className="muted">or drop it here</span>
        </section>
      </fieldset>

      <LoraTaskProgress />
      {/* The page behind a modal dialog is inert: errors of this dialog's flows show here. */}
      <ErrorAlert />
      <div className="row dialog-foot">
        <button type="button" className="secondary" onClick={onClose}>
          Cancel
        </button>
      </div>
    </dialog>
  );
}
