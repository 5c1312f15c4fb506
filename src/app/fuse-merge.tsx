/**
 * Fuse, unfuse and merge in the LoRA panel. Fuse folds the enabled adapters into the model at
 * their weight times the scale (Diffusers' `fuse_lora`); they stay fused, shown here and on their
 * rows, until Unfuse restores the weights bit-exactly. Merge… opens a dialog for PEFT's
 * `add_weighted_adapter` (adapters, weights, combination method and its knobs, a new name).
 * While something is fused, each touched component's weights export as safetensors.
 */
import { type FormEvent, useEffect, useId, useRef, useState } from 'react';
import {
  COMBINATION_TYPES,
  type CombinationType,
  type MajoritySignMethod,
} from '../core/lora/combine/types.ts';
import { uniqueAdapterName } from '../state/slices/loras.ts';
import { useAppStore } from '../state/store.ts';
import { useActions } from './actions-context.tsx';
import { downloadBytes } from './download-file.ts';
import { ErrorAlert } from './error-alert.tsx';
import { TextField } from './text-field.tsx';

const fmt = (x: number) => String(Number(x.toPrecision(4)));

/** The fused adapters, and the Fuse / Unfuse / Merge… buttons. */
export function FuseMerge() {
  const actions = useActions();
  const loras = useAppStore((s) => s.loras);
  const fused = useAppStore((s) => s.fusedLoras);
  const scale = useAppStore((s) => s.loraScale);
  const modelLoaded = useAppStore((s) => s.modelLoad.status === 'loaded');
  const running = useAppStore((s) => s.run.status === 'running');
  const [busy, setBusy] = useState(false);
  const [merging, setMerging] = useState(false);
  const fusedNames = new Set(fused.map((f) => f.adapterName));
  const toFuse = loras.filter((l) => l.enabled && !fusedNames.has(l.adapterName)).map((l) => l.adapterName);
  const idle = modelLoaded && !running && !busy;
  const fusedComponents = [
    ...new Set(
      loras
        .filter((l) => fusedNames.has(l.adapterName))
        .flatMap((l) => l.summary?.components.map((c) => c.component) ?? []),
    ),
  ];
  const run = async (f: () => Promise<unknown>) => {
    setBusy(true);
    try {
      await f();
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="fuse-merge" aria-label="Fuse and merge">
      <div className="row">
        <button
          type="button"
          disabled={!idle || toFuse.length === 0}
          title={`Fuses ${toFuse.join(', ') || 'no adapter'} into the model at weight × scale ${fmt(scale)}`}
          onClick={() => void run(() => actions.fuseLoras(toFuse))}
        >
          Fuse
        </button>
        <button
          type="button"
          className="secondary"
          disabled={!idle || fused.length === 0}
          onClick={() => void run(() => actions.unfuseLoras())}
        >
          Unfuse
        </button>
        <button
          type="button"
          className="secondary"
          disabled={!idle || loras.filter((l) => l.summary).length < 2}
          onClick={() => setMerging(true)}
        >
          Merge…
        </button>
        <output className="note grow" aria-label="Fused adapters">
          {fused.length === 0
            ? modelLoaded
              ? 'Nothing fused.'
              : 'Load a model to fuse or merge.'
            : `Fused: ${fused.map((f) => `${f.adapterName} (${fmt(f.weight)} × scale ${fmt(f.loraScale)})`).join(', ')}`}
        </output>
      </div>
      {fused.length > 0 && (
        <div className="row">
          <span className="note">Export fused weights (safetensors, Diffusers names):</span>
          {fusedComponents.map((c) => (
            <button
              key={c}
              type="button"
              className="secondary"
              disabled={!idle}
              onClick={() =>
                void run(async () => {
                  const file = await actions.exportFusedWeights(c);
                  if (file) downloadBytes(file.bytes, file.fileName);
                })
              }
            >
              Export {c}
            </button>
          ))}
        </div>
      )}
      {merging && <MergeDialog onClose={() => setMerging(false)} />}
    </section>
  );
}

const PRUNING = (t: CombinationType) => /ties|dare|magnitude_prune/.test(t);
const SIGNED = (t: CombinationType) => t.includes('ties');
const SVD = (t: CombinationType) => t.endsWith('svd');
const SEEDED = (t: CombinationType) => t.startsWith('dare');

/** A number input that keeps what is typed and reports it as a number (NaN when empty or invalid). */
function NumberInput({
  label,
  value,
  onChange,
}: {
  label: string;
  value: string;
  onChange(v: string): void;
}) {
  return (
    <label className="field">
      <span>{label}</span>
      <input type="number" step="any" value={value} onChange={(e) => onChange(e.target.value)} />
    </label>
  );
}

/** PEFT's `add_weighted_adapter` as a form; the merged adapter joins the panel. */
export function MergeDialog({ onClose }: { onClose(): void }) {
  const actions = useActions();
  const loras = useAppStore((s) => s.loras);
  const readable = loras.filter((l) => l.summary);
  const dialogRef = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const [chosen, setChosen] = useState<Record<string, boolean>>(() =>
    Object.fromEntries(readable.map((l) => [l.adapterName, l.enabled])),
  );
  const [weights, setWeights] = useState<Record<string, string>>(() =>
    Object.fromEntries(readable.map((l) => [l.adapterName, String(l.weight)])),
  );
  const [method, setMethod] = useState<CombinationType>('ties');
  const [density, setDensity] = useState('0.5');
  const [sign, setSign] = useState<MajoritySignMethod>('total');
  const [svdRank, setSvdRank] = useState('');
  const [seed, setSeed] = useState('0');
  const [name, setName] = useState(() => uniqueAdapterName(loras, 'merged'));
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const d = dialogRef.current;
    if (d && !d.open) d.showModal();
  }, []);

  const picked = readable.filter((l) => chosen[l.adapterName]).map((l) => l.adapterName);
  const num = (s: string) => (s.trim() === '' ? Number.NaN : Number(s));
  const weightValues = picked.map((n) => num(weights[n] ?? ''));
  const problems = [
    picked.length < 2 && 'choose two or more adapters',
    weightValues.some((w) => !Number.isFinite(w)) && 'every weight must be a number',
    PRUNING(method) && !(num(density) > 0 && num(density) <= 1) && 'density must be in (0, 1]',
    SVD(method) &&
      svdRank.trim() !== '' &&
      !(Number.isInteger(num(svdRank)) && num(svdRank) >= 1) &&
      'SVD rank must be a positive integer (or empty)',
    SEEDED(method) && !Number.isSafeInteger(num(seed)) && 'seed must be an integer',
    !name.trim() && 'give the new adapter a name',
  ].filter((p): p is string => typeof p === 'string');

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault();
    if (problems.length > 0) return;
    setBusy(true);
    const made = await actions.mergeLoras({
      adapters: picked,
      weights: weightValues,
      adapterName: name.trim(),
      combinationType: method,
      ...(PRUNING(method) ? { density: num(density) } : {}),
      ...(SIGNED(method) ? { majoritySignMethod: sign } : {}),
      ...(SVD(method) && svdRank.trim() !== '' ? { svdRank: num(svdRank) } : {}),
      ...(SEEDED(method) ? { seed: num(seed) } : {}),
    });
    setBusy(false);
    if (made) onClose();
  };

  return (
    <dialog
      ref={dialogRef}
      className="add-lora-dialog merge-dialog"
      aria-labelledby={titleId}
      onClose={onClose}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
    >
      <form onSubmit={(e) => void onSubmit(e)}>
        <div className="dialog-head">
          <h3 id={titleId}>Merge adapters</h3>
          <button type="button" className="icon" aria-label="Close" onClick={onClose}>
            ×
          </button>
        </div>
        <p className="note">
          PEFT's <code>add_weighted_adapter</code>: combines the files' factors (not the panel weights) with
          the weights below into a new adapter.
        </p>
        <fieldset className="add-source">
          <legend>Adapters and weights</legend>
          <ul className="merge-sources" aria-label="Adapters to merge">
            {readable.map((l) => (
              <li key={l.adapterName} className="row">
                <label className="check grow">
                  <input
                    type="checkbox"
                    checked={chosen[l.adapterName] ?? false}
                    onChange={(e) => setChosen({ ...chosen, [l.adapterName]: e.target.checked })}
                  />
                  <span>Merge {l.adapterName}</span>
                </label>
                <NumberInput
                  label={`${l.adapterName} merge weight`}
                  value={weights[l.adapterName] ?? ''}
                  onChange={(v) => setWeights({ ...weights, [l.adapterName]: v })}
                />
              </li>
            ))}
          </ul>
        </fieldset>
        <div className="row">
          <label className="field">
            <span>Method</span>
            <select value={method} onChange={(e) => setMethod(e.target.value as CombinationType)}>
              {COMBINATION_TYPES.map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
            </select>
          </label>
          {PRUNING(method) && <NumberInput label="Density" value={density} onChange={setDensity} />}
          {SIGNED(method) && (
            <label className="field">
              <span>Majority sign</span>
              <select value={sign} onChange={(e) => setSign(e.target.value as MajoritySignMethod)}>
                <option value="total">total</option>
                <option value="frequency">frequency</option>
              </select>
            </label>
          )}
          {SVD(method) && <NumberInput label="SVD rank" value={svdRank} onChange={setSvdRank} />}
          {SEEDED(method) && <NumberInput label="Seed" value={seed} onChange={setSeed} />}
          <TextField label="New adapter name" value={name} onChange={setName} />
        </div>
        {problems.length > 0 && (
          <p className="field-error" aria-live="polite">
            To merge: {problems.join('; ')}.
          </p>
        )}
        {/* The page behind a modal dialog is inert: errors of the merge show here. */}
        <ErrorAlert />
        <div className="row dialog-foot">
          <button type="button" className="secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" disabled={busy || problems.length > 0} aria-busy={busy}>
            Merge
          </button>
        </div>
      </form>
    </dialog>
  );
}
