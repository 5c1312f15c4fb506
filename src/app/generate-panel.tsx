/**
 * Generate panel: load the Model panel's repo, then prompt, negative prompt, steps, guidance,
 * seed (with re-roll), size and scheduler; Ctrl/Cmd+Enter generates. A step progress bar with a
 * live latent preview and a Cancel button while it runs; the result image after.
 */
import { type KeyboardEvent, useEffect, useRef } from 'react';
import type { RgbaImage } from '../api.ts';
import { SCHEDULER_KINDS } from '../core/pipeline/schedulers/index.ts';
import type { GenerationParams } from '../state/slices/generation.ts';
import { useAppStore } from '../state/store.ts';
import { useActions } from './actions-context.tsx';
import { formatBytes } from './format-bytes.ts';

function ImageCanvas({ image, label }: { image: RgbaImage; label: string }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const c = ref.current;
    const ctx = c?.getContext('2d');
    if (!c || !ctx) return;
    c.width = image.width;
    c.height = image.height;
    ctx.putImageData(new ImageData(new Uint8ClampedArray(image.rgba), image.width, image.height), 0, 0);
  }, [image]);
  return <canvas ref={ref} role="img" aria-label={label} className="generated" />;
}

function NumberField({
  label,
  value,
  step,
  min,
  onChange,
}: {
  label: string;
  value: number;
  step?: number;
  min?: number;
  onChange: (v: number) => void;
}) {
  return (
    <label className="field">
      <span>{label}</span>
      <input
        type="number"
        value={value}
        step={step}
        min={min}
        onChange={(e) => {
          const v = e.currentTarget.valueAsNumber;
          if (Number.isFinite(v)) onChange(v);
        }}
      />
    </label>
  );
}

function ModelLoader() {
  const actions = useActions();
  const repo = useAppStore((s) => s.modelRepo);
  const load = useAppStore((s) => s.modelLoad);
  const loading = load.status === 'loading';
  return (
    <div className="row">
      <button type="button" disabled={loading || !repo.trim()} onClick={() => void actions.loadModel()}>
        Load model
      </button>
      <output aria-label="Model status">
        {load.status === 'loading' &&
          `Loading ${load.repo}${
            load.progress
              ? `: ${load.progress.file} ${formatBytes(load.progress.loaded)}${
                  load.progress.total ? ` of ${formatBytes(load.progress.total)}` : ''
                }`
              : '…'
          }`}
        {load.status === 'loaded' &&
          `Loaded ${load.info.repo} (${load.info.family}, ${load.info.width}x${load.info.height}, ${load.info.backend})`}
        {load.status === 'error' && `Could not load ${load.repo}`}
        {load.status === 'idle' && 'No model loaded'}
      </output>
    </div>
  );
}

export function GeneratePanel() {
  const actions = useActions();
  const g = useAppStore((s) => s.generation);
  const set = useAppStore((s) => s.setGenerationParams);
  const reroll = useAppStore((s) => s.rerollSeed);
  const showError = useAppStore((s) => s.showError);
  const run = useAppStore((s) => s.run);
  const loaded = useAppStore((s) => s.modelLoad.status === 'loaded');
  const running = run.status === 'running';

  const patch = (p: Partial<GenerationParams>) => {
    try {
      set(p);
    } catch (e) {
      showError(e);
    }
  };
  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      if (loaded && !running) void actions.generate();
    }
  };

  return (
    <section className="panel" aria-labelledby="generate-heading" onKeyDown={onKeyDown}>
      <h2 id="generate-heading">Generate</h2>
      <ModelLoader />
      <label className="field grow">
        <span>Prompt</span>
        <textarea value={g.prompt} rows={3} onChange={(e) => patch({ prompt: e.currentTarget.value })} />
      </label>
      <label className="field grow">
        <span>Negative prompt</span>
        <textarea
          value={g.negativePrompt}
          rows={2}
          onChange={(e) => patch({ negativePrompt: e.currentTarget.value })}
        />
      </label>
      <div className="row">
        <NumberField
          label="Steps"
          value={g.numInferenceSteps}
          min={1}
          onChange={(v) => patch({ numInferenceSteps: v })}
        />
        <NumberField
          label="Guidance"
          value={g.guidanceScale}
          step={0.5}
          onChange={(v) => patch({ guidanceScale: v })}
        />
        <NumberField label="Seed" value={g.seed} min={0} onChange={(v) => patch({ seed: v })} />
        <button type="button" onClick={reroll} aria-label="Re-roll seed">
          🎲
        </button>
      </div>
      <div className="row">
        <NumberField label="Width" value={g.width} step={8} min={8} onChange={(v) => patch({ width: v })} />
        <NumberField
          label="Height"
          value={g.height}
          step={8}
          min={8}
          onChange={(v) => patch({ height: v })}
        />
        <label className="field">
          <span>Scheduler</span>
          <select
            value={g.scheduler}
            onChange={(e) => patch({ scheduler: e.currentTarget.value as GenerationParams['scheduler'] })}
          >
            <option value="default">Model default</option>
            {SCHEDULER_KINDS.map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
          </select>
        </label>
      </div>
      <div className="row">
        <button type="button" disabled={!loaded || running} onClick={() => void actions.generate()}>
          Generate
        </button>
        {running && (
          <button type="button" onClick={() => void actions.cancelGeneration()}>
            Cancel
          </button>
        )}
      </div>
      {run.status !== 'idle' && (
        <div className="generation">
          <progress
            aria-label="Generation progress"
            max={run.steps || 1}
            value={run.stepsDone}
            data-steps-done={run.stepsDone}
          />
          <output aria-label="Generation status" data-status={run.status}>
            {run.status === 'running' && `Step ${run.stepsDone} of ${run.steps}`}
            {run.status === 'done' &&
              run.result &&
              `Done: ${run.result.image.width}x${run.result.image.height}, ${run.steps} steps ${run.result.params.scheduler}, seed ${run.result.params.seed} (${run.result.seconds.toFixed(1)} s)`}
            {run.status === 'cancelled' &&
              `Cancelled after step ${run.stepsDone} of ${run.steps} (cancel pressed at step ${run.cancelledAtStep ?? 0})`}
            {run.status === 'error' && 'Generation failed'}
          </output>
          {run.status === 'done' && run.result ? (
            <ImageCanvas image={run.result.image} label="Generated image" />
          ) : (
            run.preview && <ImageCanvas image={run.preview} label="Step preview" />
          )}
        </div>
      )}
    </section>
  );
}
