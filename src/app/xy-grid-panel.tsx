/**
 * X/Y plot panel (A1111's X/Y/Z plot with two axes): pick what X and Y set (seed, steps, CFG,
 * scheduler, a LoRA's weight or schedule, the LoRA scale, Prompt S/R) and their values
 * (`0, 0.5, 1`, `1-5`, `0-1 (+0.25)`, `1-3 [3]`), run every combination through Generate, and get
 * one labelled sheet, also in the gallery, downloadable as a PNG with its parameters.
 */
import { useMemo } from 'react';
import { exampleValues, type XyAxisKind, type XyAxisSpec } from '../core/pipeline/xy-axes.ts';
import { getAppStore, useAppStore } from '../state/store.ts';
import { cancelXyGrid, planFromState, runXyGrid } from '../state/xy-grid-run.ts';
import { useActions } from './actions-context.tsx';
import { canvasSheetLabeler } from './xy-grid-labels.ts';

const PLAIN_KINDS: readonly [XyAxisKind, string][] = [
  ['none', 'Nothing'],
  ['seed', 'Seed'],
  ['steps', 'Steps'],
  ['guidance', 'CFG scale'],
  ['scheduler', 'Scheduler'],
  ['scale', 'LoRA scale'],
  ['prompt-sr', 'Prompt S/R'],
];

/** A select value: the kind, and the adapter for LoRA kinds (`lora-weight:style`). */
function optionValue(spec: Pick<XyAxisSpec, 'kind' | 'adapterName'>): string {
  return spec.adapterName !== undefined && spec.kind.startsWith('lora-')
    ? `${spec.kind}:${spec.adapterName}`
    : spec.kind;
}

function parseOption(value: string): Pick<XyAxisSpec, 'kind' | 'adapterName'> {
  const at = value.indexOf(':');
  if (at < 0) return { kind: value as XyAxisKind };
  return { kind: value.slice(0, at) as XyAxisKind, adapterName: value.slice(at + 1) };
}

function AxisRow({ axis, disabled }: { axis: 'x' | 'y'; disabled: boolean }) {
  const spec = useAppStore((s) => s.xyAxes[axis]);
  const loras = useAppStore((s) => s.loras);
  const setAxis = useAppStore((s) => s.setXyAxis);
  const name = axis.toUpperCase();
  const names = loras.map((l) => l.adapterName);
  const missing =
    spec.adapterName !== undefined && spec.kind.startsWith('lora-') && !names.includes(spec.adapterName);
  const onKind = (value: string) => {
    const next = parseOption(value);
    // The new kind's example replaces the text while it is still the old kind's example (or empty).
    const example = spec.values.trim() === '' || spec.values === exampleValues(spec.kind);
    setAxis(axis, { ...next, ...(example ? { values: exampleValues(next.kind) } : {}) });
  };
  return (
    <div className="row">
      <label className="field">
        <span>{name} type</span>
        <select value={optionValue(spec)} disabled={disabled} onChange={(e) => onKind(e.currentTarget.value)}>
          {PLAIN_KINDS.map(([kind, label]) => (
            <option key={kind} value={kind}>
              {label}
            </option>
          ))}
          {names.flatMap((n) => [
            <option key={`w:${n}`} value={`lora-weight:${n}`}>
              {n} weight
            </option>,
            <option key={`s:${n}`} value={`lora-schedule:${n}`}>
              {n} schedule
            </option>,
          ])}
          {missing && (
            <option value={optionValue(spec)}>
              {spec.adapterName} {spec.kind === 'lora-weight' ? 'weight' : 'schedule'} (not loaded)
            </option>
          )}
        </select>
      </label>
      <label className="field grow">
        <span>{name} values</span>
        <input
          type="text"
          value={spec.values}
          disabled={disabled || spec.kind === 'none'}
          placeholder={exampleValues(spec.kind)}
          onChange={(e) => setAxis(axis, { values: e.currentTarget.value })}
        />
      </label>
    </div>
  );
}

export function XyGridPanel() {
  const actions = useActions();
  const axes = useAppStore((s) => s.xyAxes);
  const prompt = useAppStore((s) => s.generation.prompt);
  const loras = useAppStore((s) => s.loras);
  const keepCells = useAppStore((s) => s.xyKeepCells);
  const setKeepCells = useAppStore((s) => s.setXyKeepCells);
  const xyRun = useAppStore((s) => s.xyRun);
  const loaded = useAppStore((s) => s.modelLoad.status === 'loaded');
  const generating = useAppStore((s) => s.run.status === 'running');
  const running = xyRun.status === 'running';
  const labeler = useMemo(() => canvasSheetLabeler(), []);

  const plan = useMemo(() => {
    try {
      const p = planFromState({ xyAxes: axes, generation: { prompt }, loras });
      return { text: `${p.columns} x ${p.rows} = ${p.cells.length} cells`, ok: true };
    } catch (e) {
      return { text: e instanceof Error ? e.message : String(e), ok: false };
    }
  }, [axes, prompt, loras]);

  const store = getAppStore();
  return (
    <section className="panel" aria-labelledby="xy-heading">
      <h2 id="xy-heading">X/Y plot</h2>
      <AxisRow axis="x" disabled={running} />
      <AxisRow axis="y" disabled={running} />
      <p>
        <output aria-label="X/Y plan" data-ok={plan.ok} className={plan.ok ? 'muted' : 'gpu-reason'}>
          {plan.text}
        </output>
      </p>
      <div className="row">
        <label>
          <input
            type="checkbox"
            checked={keepCells}
            disabled={running}
            onChange={(e) => setKeepCells(e.currentTarget.checked)}
          />{' '}
          Keep cell images in the gallery
        </label>
      </div>
      <div className="row">
        <button
          type="button"
          disabled={!loaded || running || generating || !plan.ok}
          onClick={() => void runXyGrid(store, actions, labeler)}
        >
          Run X/Y plot
        </button>
        {running && (
          <button type="button" onClick={() => void cancelXyGrid(store, actions)}>
            Cancel X/Y plot
          </button>
        )}
      </div>
      {xyRun.status !== 'idle' && (
        <div className="generation">
          <progress
            aria-label="X/Y progress"
            max={xyRun.cells || 1}
            value={running ? xyRun.cell - 1 : xyRun.cell}
          />
          <output aria-label="X/Y status" data-status={xyRun.status}>
            {running && `Cell ${xyRun.cell} of ${xyRun.cells}`}
            {xyRun.status === 'done' && `Done: ${xyRun.cells} cells`}
            {xyRun.status === 'cancelled' && `Cancelled after ${xyRun.cell} of ${xyRun.cells} cells`}
            {xyRun.status === 'error' && 'X/Y plot failed'}
          </output>
          {xyRun.status === 'done' && xyRun.result && (
            <figure>
              <img
                src={xyRun.result.url}
                width={xyRun.result.width}
                height={xyRun.result.height}
                alt="X/Y grid"
                data-cells={xyRun.result.cells.map((c) => `${c.x},${c.y},${c.width},${c.height}`).join(';')}
              />
              <figcaption>
                <a href={xyRun.result.url} download={xyRun.result.fileName}>
                  Download grid PNG
                </a>
              </figcaption>
            </figure>
          )}
        </div>
      )}
    </section>
  );
}
