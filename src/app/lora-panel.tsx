import { useState } from 'react';
import { selectAdaptersChangedSinceRun } from '../state/actions.ts';
import { scaleValues } from '../state/slices/loras.ts';
import { useAppStore } from '../state/store.ts';
import { AddLoraDialog, LoraTaskProgress } from './add-lora-dialog.tsx';
import { FuseMerge } from './fuse-merge.tsx';
import { LoraRow } from './lora-row.tsx';
import { LoraSearch } from './lora-search.tsx';
import { NumberSlider } from './number-slider.tsx';
import { ScheduleEditor } from './schedule-editor.tsx';

type DialogState = { replacing?: string; initialRepo?: string } | null;

/** The global LoRA scale (Diffusers' `cross_attention_kwargs={"scale": s}`) and its schedule. */
function GlobalScale() {
  const scale = useAppStore((s) => s.loraScale);
  const schedule = useAppStore((s) => s.loraScaleSchedule);
  const range = useAppStore((s) => s.loraWeightRange);
  const steps = useAppStore((s) => s.generation.numInferenceSteps);
  const setScale = useAppStore((s) => s.setLoraScale);
  const setSchedule = useAppStore((s) => s.setLoraScaleSchedule);
  const [open, setOpen] = useState(false);
  const scheduled = schedule !== 1;
  return (
    <div className="lora-scale">
      <div className="row">
        <NumberSlider
          name="scale"
          caption="Scale"
          value={scale}
          min={range.min}
          max={range.max}
          onChange={setScale}
        />
        <button
          type="button"
          className={`secondary${scheduled ? ' active' : ''}`}
          aria-expanded={open}
          aria-label="scale schedule"
          onClick={() => setOpen((o) => !o)}
        >
          Schedule{scheduled ? ' •' : ''}
        </button>
      </div>
      {open && (
        <section className="lora-sub" aria-label="scale schedule editor">
          <div className="row">
            <span className="note grow">
              Per-step multiplier of the scale; every adapter is multiplied by it.
            </span>
            <button type="button" className="secondary" disabled={!scheduled} onClick={() => setSchedule(1)}>
              Remove schedule
            </button>
          </div>
          <ScheduleEditor
            label="scale"
            schedule={schedule}
            onChange={setSchedule}
            steps={steps}
            effective={scaleValues({ loraScale: scale, loraScaleSchedule: schedule }, steps)}
            effectiveHint="scale × schedule"
          />
        </section>
      )}
    </div>
  );
}

/** A number field that commits only values `accept` takes; others stay typed and marked invalid. */
function CommitField({
  label,
  value,
  step,
  accept,
  onCommit,
}: {
  label: string;
  value: number;
  step: number;
  accept(v: number): boolean;
  onCommit(v: number): void;
}) {
  const [text, setText] = useState<string | null>(null);
  const shown = text ?? String(value);
  const invalid = text !== null && !(text.trim() !== '' && accept(Number(text)));
  return (
    <label className="field">
      <span>{label}</span>
      <input
        type="number"
        step={step}
        value={shown}
        aria-invalid={invalid || undefined}
        onChange={(e) => {
          const t = e.target.value;
          const v = Number(t);
          if (t.trim() !== '' && accept(v)) {
            onCommit(v);
            setText(null);
          } else setText(t);
        }}
        onBlur={() => setText(null)}
      />
    </label>
  );
}

/** Slider range of the weights and the step count the schedules are shown for. */
function PanelSettings() {
  const range = useAppStore((s) => s.loraWeightRange);
  const setRange = useAppStore((s) => s.setLoraWeightRange);
  const steps = useAppStore((s) => s.generation.numInferenceSteps);
  const setGeneration = useAppStore((s) => s.setGenerationParams);
  return (
    <div className="row lora-settings">
      <CommitField
        label="Slider min"
        value={range.min}
        step={0.5}
        accept={(v) => Number.isFinite(v) && v < range.max}
        onCommit={(min) => setRange({ ...range, min })}
      />
      <CommitField
        label="Slider max"
        value={range.max}
        step={0.5}
        accept={(v) => Number.isFinite(v) && v > range.min}
        onCommit={(max) => setRange({ ...range, max })}
      />
      <CommitField
        label="Schedule steps"
        value={steps}
        step={1}
        accept={(v) => Number.isInteger(v) && v >= 1 && v <= 1000}
        onCommit={(numInferenceSteps) => setGeneration({ numInferenceSteps })}
      />
    </div>
  );
}

/**
 * Says when the adapter settings differ from those of the image shown, so the user knows the next
 * Generate applies them (weights, toggles, schedules and the scale go to the engine per request).
 */
function PendingChanges() {
  const pending = useAppStore(selectAdaptersChangedSinceRun);
  if (!pending) return null;
  return (
    <p className="note pending" role="status" aria-label="Adapter changes">
      Adapter settings changed since the last image: the next Generate applies them.
    </p>
  );
}

/**
 * The LoRA panel: adapters (add from a repo, a URL or a file; weight, schedule, block weights,
 * hotswap, save, delete), the global scale and its schedule, fuse / unfuse / merge, and Hub search.
 */
export function LoraPanel() {
  const loras = useAppStore((s) => s.loras);
  const busy = useAppStore((s) => s.loraTask !== null);
  const [dialog, setDialog] = useState<DialogState>(null);

  return (
    <section className="panel lora-panel" aria-labelledby="lora-heading">
      <h2 id="lora-heading">LoRA</h2>
      <div className="row">
        <button type="button" disabled={busy} onClick={() => setDialog({})}>
          Add LoRA…
        </button>
        <PanelSettings />
      </div>
      <GlobalScale />
      {!dialog && <LoraTaskProgress />}
      {loras.length === 0 ? (
        <p className="muted">No adapter yet: add one from the Hub, a URL or a local .safetensors file.</p>
      ) : (
        <ul className="lora-list" aria-label="Adapters">
          {loras.map((l) => (
            <LoraRow key={l.adapterName} entry={l} onReplace={(replacing) => setDialog({ replacing })} />
          ))}
        </ul>
      )}
      <FuseMerge />
      <PendingChanges />
      <LoraSearch onPick={(initialRepo) => setDialog({ initialRepo })} />
      {dialog && (
        <AddLoraDialog
          {...(dialog.replacing ? { replacing: dialog.replacing } : {})}
          {...(dialog.initialRepo ? { initialRepo: dialog.initialRepo } : {})}
          onClose={() => setDialog(null)}
        />
      )}
    </section>
  );
}
