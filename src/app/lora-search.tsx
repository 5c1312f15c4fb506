import { type FormEvent, useState } from 'react';
import type { LoraSearchHit } from '../api.ts';
import { useAppStore } from '../state/store.ts';
import { useActions } from './actions-context.tsx';
import { TextField } from './text-field.tsx';

interface LoraSearchProps {
  /** Opens the add dialog on a repo, to pick one of its files. */
  onPick(repo: string): void;
}

/** Finds LoRA repos on the Hub for a base model (its `base_model:adapter:` tag) and/or by name. */
export function LoraSearch({ onPick }: LoraSearchProps) {
  const actions = useActions();
  const modelRepo = useAppStore((s) => s.listedRepo ?? s.modelRepo);
  const [baseModel, setBaseModel] = useState<string | null>(null);
  const [search, setSearch] = useState('');
  const [hits, setHits] = useState<LoraSearchHit[] | null>(null);
  const [busy, setBusy] = useState(false);
  const base = baseModel ?? modelRepo;

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    const found = await actions.searchLoras({
      ...(base.trim() ? { baseModel: base.trim() } : {}),
      ...(search.trim() ? { search: search.trim() } : {}),
    });
    setBusy(false);
    setHits(found);
  };

  return (
    <section className="lora-search" aria-labelledby="lora-search-heading">
      <h3 id="lora-search-heading">Find LoRAs on the Hub</h3>
      <form className="row" onSubmit={onSubmit}>
        <TextField
          label="Base model"
          value={base}
          onChange={setBaseModel}
          placeholder="stabilityai/stable-diffusion-xl-base-1.0 (empty: any)"
          grow
        />
        <TextField label="Name contains" value={search} onChange={setSearch} grow />
        <button type="submit" disabled={busy} aria-busy={busy}>
          Search LoRAs
        </button>
      </form>
      {hits && (
        <ul className="lora-hits" aria-label="LoRA search results">
          {hits.length === 0 && <li className="muted">No LoRA found.</li>}
          {hits.map((h) => (
            <li key={h.repo}>
              <span className="path">{h.repo}</span>
              <span className="muted">
                {h.downloads.toLocaleString('en-US')} downloads · {h.likes} likes
                {h.baseModels.length > 0 && <> · for {h.baseModels.join(', ')}</>}
              </span>
              <button
                type="button"
                className="secondary"
                aria-label={`Files of ${h.repo}`}
                onClick={() => onPick(h.repo)}
              >
                Files…
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
