import { useId, useState } from 'react';
import type { AdapterFileFormat, LoraSummary } from '../api.ts';
import { effectiveAdapterValues, type LoraEntry, type LoraSource } from '../state/slices/loras.ts';
import { useAppStore } from '../state/store.ts';
import { useActions } from './actions-context.tsx';
import { BlockWeightsEditor } from './block-weights-editor.tsx';
import { downloadBytes } from './download-file.ts';
import { formatBytes } from './format-bytes.ts';
import { NumberSlider } from './number-slider.tsx';
import { ScheduleEditor } from './schedule-editor.tsx';

interface LoraRowProps {
  entry: LoraEntry;
  /** Opens the add dialog in "replace" mode for this adapter (hotswap). */
  onReplace(adapterName: string): void;
}

function describeSource(source: LoraSource): string {
  if ('repo' in source)
    return `${source.repo}/${source.weightName}${source.revision ? `@${source.revision}` : ''}`;
  if ('url' in source) return source.url;
  if ('merged' in source) return `merged (${source.merged.method}) from ${source.merged.from.join(' + ')}`;
  return `${source.fileName} (local file)`;
}

const list = (xs: readonly number[]) => xs.map((x) => String(Number(x.toPrecision(6)))).join(' / ');

/** What the file holds, as facts: format, rank, alpha, components, dtype, size, base. */
function SummaryFacts({ summary }: { summary: LoraSummary }) {
  const facts: [key: string, term: string, value: string][] = [
    ['format', 'Format', summary.formats.map((f) => f.format).join(', ') || 'none'],
    ['rank', 'Rank', list(summary.ranks)],
    ['alpha', 'Alpha', list(summary.alphas)],
    [
      'components',
      'Components',
      summary.components.map((c) => `${c.component} (${c.modules} modules)`).join(', ') || 'none',
    ],
    ['kind', 'Kind', `${summary.kinds.join(', ')}${summary.dora ? ' + DoRA' : ''}`],
    ['dtype', 'Dtype', summary.dtypes.join(', ')],
    ['size', 'Size', formatBytes(summary.byteSize)],
    [
      'base',
      'Names from',
      `${summary.base.name}${summary.base.assumed ? ' (best fit; no model loaded)' : ''}`,
    ],
  ];
  return (
    <dl className="lora-facts">
      {facts.map(([key, term, value]) => (
        <div key={key} data-fact={key}>
          <dt>{term}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

function UnmappedKeys({ unmapped }: { unmapped: LoraSummary['unmapped'] }) {
  if (unmapped.length === 0) return null;
  return (
    <details className="unmapped" open={unmapped.length <= 5}>
      <summary>
        {unmapped.length} unmapped key{unmapped.length === 1 ? '' : 's'} (not applied)
      </summary>
      <ul aria-label="Unmapped keys">
        {unmapped.map((u) => (
          <li key={u.key}>
            <code>{u.key}</code>: {u.reason}
          </li>
        ))}
      </ul>
    </details>
  );
}

/**
 * One adapter: toggle, weight slider and number box, schedule, block weights, replace (hotswap)
 * and delete, with what its file holds and any keys that map to nothing.
 */
/** Downloads the adapter as .safetensors with PEFT or kohya keys (the engine writes it). */
function SaveAdapter({ name }: { name: string }) {
  const actions = useActions();
  const [format, setFormat] = useState<AdapterFileFormat>('peft');
  const [busy, setBusy] = useState(false);
  const modelLoaded = useAppStore((s) => s.modelLoad.status === 'loaded');
  const save = async () => {
    setBusy(true);
    const file = await actions.saveLora(name, format);
    setBusy(false);
    if (!file) return;
    downloadBytes(
      file.bytes,
      format === 'peft' ? file.fileName : file.fileName.replace(/\.safetensors$/, '.kohya.safetensors'),
    );
  };
  return (
    <div className="row">
      <label className="field">
        <span>Key format</span>
        <select
          aria-label={`${name} save format`}
          value={format}
          onChange={(e) => setFormat(e.target.value as AdapterFileFormat)}
        >
          <option value="peft">PEFT (diffusers)</option>
          <option value="kohya">kohya (A1111, ComfyUI)</option>
        </select>
      </label>
      <button type="button" disabled={busy || !modelLoaded} aria-busy={busy} onClick={() => void save()}>
        Download {name}.safetensors
      </button>
      {!modelLoaded && <span className="note">Load a model first: keys are written for its layers.</span>}
    </div>
  );
}

export function LoraRow({ entry, onReplace }: LoraRowProps) {
  const { adapterName: name, summary } = entry;
  const actions = useActions();
  const fused = useAppStore((s) => s.fusedLoras.find((f) => f.adapterName === name));
  const range = useAppStore((s) => s.loraWeightRange);
  const steps = useAppStore((s) => s.generation.numInferenceSteps);
  const loraScale = useAppStore((s) => s.loraScale);
  const loraScaleSchedule = useAppStore((s) => s.loraScaleSchedule);
  const busy = useAppStore((s) => s.loraTask !== null);
  const running = useAppStore((s) => s.run.status === 'running');
  const setWeight = useAppStore((s) => s.setLoraWeight);
  const setEnabled = useAppStore((s) => s.setLoraEnabled);
  const setSchedule = useAppStore((s) => s.setLoraSchedule);
  const setBlockWeights = useAppStore((s) => s.setLoraBlockWeights);
  const [open, setOpen] = useState<'schedule' | 'blocks' | 'save' | null>(null);
  const toggle = (panel: 'schedule' | 'blocks' | 'save') => setOpen((o) => (o === panel ? null : panel));
  const scheduled = entry.schedule !== undefined && entry.schedule !== 1;
  const scheduleId = useId();
  const blocksId = useId();
  const saveId = useId();
  const fusedTitle = fused ? 'Fused into the model: press Unfuse to change it' : undefined;

  return (
    <li className={`lora-row${entry.enabled ? '' : ' off'}${fused ? ' fused' : ''}`} aria-label={name}>
      <div className="lora-head">
        <label className="check lora-toggle">
          <input
            type="checkbox"
            checked={entry.enabled}
            disabled={fused !== undefined}
            title={fusedTitle}
            onChange={(e) => setEnabled(name, e.target.checked)}
            aria-label={`${name} enabled`}
          />
          <span className="lora-name">{name}</span>
        </label>
        {fused && (
          <span className="badge" role="status" aria-label={`${name} fused`}>
            fused {String(Number((fused.weight * fused.loraScale).toPrecision(4)))}
          </span>
        )}
        <span className="lora-source path" title={describeSource(entry.source)}>
          {describeSource(entry.source)}
        </span>
        <NumberSlider
          name={`${name} weight`}
          value={entry.weight}
          min={range.min}
          max={range.max}
          disabled={fused !== undefined}
          onChange={(w) => setWeight(name, w)}
        />
        <div className="lora-actions">
          <button
            type="button"
            className={`secondary${scheduled ? ' active' : ''}`}
            aria-expanded={open === 'schedule'}
            aria-controls={open === 'schedule' ? scheduleId : undefined}
            aria-label={`${name} schedule`}
            onClick={() => toggle('schedule')}
          >
            Schedule{scheduled ? ' •' : ''}
          </button>
          {summary?.unetBlocks && (
            <button
              type="button"
              className={`secondary${entry.blockWeights ? ' active' : ''}`}
              aria-expanded={open === 'blocks'}
              aria-controls={open === 'blocks' ? blocksId : undefined}
              aria-label={`${name} block weights`}
              onClick={() => toggle('blocks')}
            >
              Blocks{entry.blockWeights ? ' •' : ''}
            </button>
          )}
          <button
            type="button"
            className="secondary"
            disabled={busy || fused !== undefined}
            title={fusedTitle}
            aria-label={`Replace ${name} with…`}
            onClick={() => onReplace(name)}
          >
            Replace with…
          </button>
          <button
            type="button"
            className="secondary"
            aria-expanded={open === 'save'}
            aria-controls={open === 'save' ? saveId : undefined}
            aria-label={`Save ${name}`}
            onClick={() => toggle('save')}
          >
            Save…
          </button>
          <button
            type="button"
            className="danger"
            disabled={fused !== undefined || running}
            title={fusedTitle ?? (running ? 'A generation is running: delete after it' : undefined)}
            aria-label={`Delete ${name}`}
            onClick={() => void actions.removeLora(name)}
          >
            Delete
          </button>
        </div>
      </div>
      {summary && <SummaryFacts summary={summary} />}
      {summary && <UnmappedKeys unmapped={summary.unmapped} />}
      {open === 'schedule' && (
        <section id={scheduleId} className="lora-sub" aria-label={`${name} schedule editor`}>
          <div className="row">
            <span className="note grow">
              Per-step multiplier of the weight. {scheduled ? '' : 'Constant 1 now.'}
            </span>
            <button
              type="button"
              className="secondary"
              disabled={entry.schedule === undefined}
              onClick={() => setSchedule(name, undefined)}
            >
              Remove schedule
            </button>
          </div>
          <ScheduleEditor
            label={name}
            schedule={entry.schedule ?? 1}
            onChange={(s) => setSchedule(name, s)}
            steps={steps}
            effective={effectiveAdapterValues({ loraScale, loraScaleSchedule }, entry, steps)}
            effectiveHint="scale × weight × schedule"
          />
        </section>
      )}
      {open === 'save' && (
        <section id={saveId} className="lora-sub" aria-label={`${name} save`}>
          <SaveAdapter name={name} />
        </section>
      )}
      {open === 'blocks' && summary?.unetBlocks && (
        <section id={blocksId} className="lora-sub" aria-label={`${name} block weights editor`}>
          <BlockWeightsEditor
            adapterName={name}
            layout={summary.unetBlocks}
            value={entry.blockWeights}
            range={range}
            onChange={(b) => setBlockWeights(name, b)}
          />
        </section>
      )}
    </li>
  );
}
