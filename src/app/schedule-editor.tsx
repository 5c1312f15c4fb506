import { type KeyboardEvent, type PointerEvent, useEffect, useId, useRef, useState } from 'react';
import {
  formatSchedule,
  isKeyframes,
  type Keyframe,
  parseSchedule,
  type Schedule,
  type SchedulePresetName,
  schedulePreset,
  scheduleValues,
} from '../core/pipeline/schedule.ts';
import { formatWeight } from './number-slider.tsx';

interface ScheduleEditorProps {
  /** Whose schedule: an adapter name or "scale"; controls are named "<label> schedule ...". */
  label: string;
  schedule: Schedule;
  onChange(schedule: Schedule): void;
  /** The run's number of steps: the plot and the table show one value per step. */
  steps: number;
  /** The value each step really runs with (weight x schedules x global scale), for the table. */
  effective: readonly number[];
  /** Says what `effective` is, e.g. "scale x weight x schedule". */
  effectiveHint: string;
}

const PRESETS: { name: SchedulePresetName; text: string }[] = [
  { name: 'constant', text: 'Constant' },
  { name: 'ramp-down', text: 'Ramp down' },
  { name: 'ramp-up', text: 'Ramp up' },
  { name: 'character-first', text: 'Character first' },
];

/** Plot geometry, in SVG user units. */
const W = 420;
const H = 160;
const PAD = { left: 34, right: 10, top: 10, bottom: 22 };
const PLOT_W = W - PAD.left - PAD.right;
const PLOT_H = H - PAD.top - PAD.bottom;
/** Keyboard nudge of a keyframe's weight (Shift: 5x). */
const NUDGE = 0.05;

const round = (v: number, digits: number) => Number(v.toFixed(digits));

/** The schedule as keyframes to drag: a constant is two flat points, per-step values one point per step. */
export function editableKeyframes(s: Schedule): Keyframe[] {
  if (typeof s === 'number') {
    return [
      [0, s],
      [1, s],
    ];
  }
  if (isKeyframes(s)) return s.map(([p, w]) => [p, w] as const);
  return (s as readonly number[]).map((w, i) => [i === 0 ? 0 : i + 1, w] as const);
}

/** A keyframe position on the step axis (schedule.ts: fractions of the run, or 1-based step numbers). */
function positionToStep(position: number, steps: number): number {
  return position <= 1 ? position * Math.max(steps - 1, 1) : position - 1;
}

function stepToFraction(step: number, steps: number): number {
  return round(Math.min(Math.max(step / Math.max(steps - 1, 1), 0), 1), 3);
}

/** The weight axis: at least 0..1, widened to whole halves around every value shown. */
function weightDomain(values: readonly number[]): [number, number] {
  const lo = Math.min(0, ...values);
  const hi = Math.max(1, ...values);
  return [Math.floor(lo * 2) / 2, Math.ceil(hi * 2) / 2];
}

/** Same text when it already means this schedule (keeps what the user typed, e.g. spaces). */
function sameSchedule(text: string, s: Schedule): boolean {
  try {
    return formatSchedule(parseSchedule(text)) === formatSchedule(s);
  } catch {
    return false;
  }
}

/**
 * A strength schedule: a plot of the value per step with draggable keyframes (pointer or
 * keyboard), presets, a loractl text field (`0@0,1@0.5`) with inline parse errors, and the
 * effective value of every step.
 */
export function ScheduleEditor({
  label,
  schedule,
  onChange,
  steps,
  effective,
  effectiveHint,
}: ScheduleEditorProps) {
  const [text, setText] = useState(() => formatSchedule(schedule));
  const [parseError, setParseError] = useState<string | null>(null);
  const [drag, setDrag] = useState<{ index: number; domain: [number, number] } | null>(null);
  const svgRef = useRef<SVGSVGElement>(null);
  const errorId = useId();
  const hintId = useId();

  useEffect(() => {
    setText((t) => (sameSchedule(t, schedule) ? t : formatSchedule(schedule)));
    setParseError(null);
  }, [schedule]);

  const values = scheduleValues(schedule, steps);
  const keys = editableKeyframes(schedule);
  const domain = drag?.domain ?? weightDomain([...values, ...keys.map(([, w]) => w)]);
  const [yMin, yMax] = domain;
  const xScale = PLOT_W / Math.max(steps - 1, 1);
  const yScale = PLOT_H / (yMax - yMin);
  const px = (step: number) => PAD.left + step * xScale;
  const py = (w: number) => PAD.top + (yMax - w) * yScale;

  const setKey = (index: number, key: Keyframe) => {
    onChange(keys.map((k, i) => (i === index ? key : k)));
  };

  const onText = (t: string) => {
    setText(t);
    try {
      const parsed = parseSchedule(t);
      setParseError(null);
      onChange(parsed);
    } catch (e) {
      setParseError(e instanceof Error ? e.message : String(e));
    }
  };

  /** Pointer position in data coordinates: [step, weight]. */
  const toData = (e: PointerEvent<SVGElement>, dom: [number, number]): [number, number] | null => {
    const svg = svgRef.current;
    const ctm = svg?.getScreenCTM();
    if (!svg || !ctm) return null;
    const p = new DOMPoint(e.clientX, e.clientY).matrixTransform(ctm.inverse());
    const step = (p.x - PAD.left) / xScale;
    const w = dom[1] - ((p.y - PAD.top) * (dom[1] - dom[0])) / PLOT_H;
    return [step, Math.min(Math.max(w, dom[0]), dom[1])];
  };

  const onPointerDown = (index: number) => (e: PointerEvent<SVGCircleElement>) => {
    e.preventDefault();
    e.currentTarget.setPointerCapture(e.pointerId);
    e.currentTarget.focus();
    setDrag({ index, domain });
  };

  const onPointerMove = (e: PointerEvent<SVGCircleElement>) => {
    if (!drag) return;
    const at = toData(e, drag.domain);
    if (!at) return;
    setKey(drag.index, [stepToFraction(at[0], steps), round(at[1], 2)]);
  };

  const endDrag = (e: PointerEvent<SVGCircleElement>) => {
    if (e.currentTarget.hasPointerCapture(e.pointerId)) e.currentTarget.releasePointerCapture(e.pointerId);
    setDrag(null);
  };

  const onKeyDown = (index: number) => (e: KeyboardEvent<SVGCircleElement>) => {
    const k = keys[index];
    if (!k) return;
    const [p, w] = k;
    const step = positionToStep(p, steps);
    const nudge = e.shiftKey ? NUDGE * 5 : NUDGE;
    let next: Keyframe | null = null;
    if (e.key === 'ArrowUp') next = [p, round(w + nudge, 4)];
    else if (e.key === 'ArrowDown') next = [p, round(w - nudge, 4)];
    else if (e.key === 'ArrowRight') next = [stepToFraction(Math.floor(step) + 1, steps), w];
    else if (e.key === 'ArrowLeft') next = [stepToFraction(Math.ceil(step) - 1, steps), w];
    else if ((e.key === 'Delete' || e.key === 'Backspace') && keys.length > 1) {
      e.preventDefault();
      onChange(keys.filter((_, i) => i !== index));
      return;
    }
    if (next) {
      e.preventDefault();
      setKey(index, next);
    }
  };

  /** A new keyframe in the middle of the widest gap, on the curve. */
  const addPoint = () => {
    const at = keys.map(([p]) => positionToStep(p, steps)).sort((a, b) => a - b);
    const bounds = [0, ...at, Math.max(steps - 1, 1)];
    let best = { from: 0, width: -1 };
    for (let i = 1; i < bounds.length; i++) {
      const width = bounds[i]! - bounds[i - 1]!;
      if (width > best.width) best = { from: bounds[i - 1]!, width };
    }
    const step = best.from + best.width / 2;
    const w = values[Math.min(Math.round(step), values.length - 1)] ?? 1;
    onChange([...keys, [stepToFraction(step, steps), round(w, 2)]]);
  };

  const ticks = [yMin, (yMin + yMax) / 2, yMax].filter((v, i, a) => a.indexOf(v) === i);
  const xTicks = steps > 1 ? [0, Math.floor((steps - 1) / 2), steps - 1] : [0];

  return (
    <div className="schedule-editor">
      <svg
        ref={svgRef}
        className="schedule-plot"
        viewBox={`0 0 ${W} ${H}`}
        aria-label={`${label} schedule plot`}
        aria-describedby={hintId}
      >
        <title>{`${label} schedule: value per step`}</title>
        <rect className="plot-bg" x={PAD.left} y={PAD.top} width={PLOT_W} height={PLOT_H} />
        {ticks.map((t) => (
          <g key={t}>
            <line className="grid" x1={PAD.left} x2={PAD.left + PLOT_W} y1={py(t)} y2={py(t)} />
            <text className="tick" x={PAD.left - 4} y={py(t) + 3} textAnchor="end">
              {formatWeight(t)}
            </text>
          </g>
        ))}
        {xTicks.map((s) => (
          <text key={s} className="tick" x={px(s)} y={H - 6} textAnchor="middle">
            {s + 1}
          </text>
        ))}
        {/* The curve in data coordinates (x = step index, y = value): its points are the per-step values. */}
        <g transform={`translate(${PAD.left} ${PAD.top + yMax * yScale}) scale(${xScale} ${-yScale})`}>
          <polyline
            className="schedule-curve"
            data-steps={steps}
            points={values.map((v, i) => `${i},${round(v, 4)}`).join(' ')}
            vectorEffect="non-scaling-stroke"
          />
        </g>
        {values.map((v, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: one dot per step, in step order
          <circle key={i} className="step-dot" cx={px(i)} cy={py(v)} r={2} />
        ))}
        {keys.map(([p, w], i) => (
          <circle
            // biome-ignore lint/suspicious/noArrayIndexKey: keyframes have no identity but their order
            key={i}
            className={`keyframe${drag?.index === i ? ' dragging' : ''}`}
            cx={px(Math.min(positionToStep(p, steps), Math.max(steps - 1, 1)))}
            cy={py(w)}
            r={6}
            role="slider"
            tabIndex={0}
            aria-label={`${label} keyframe ${i + 1}`}
            aria-valuemin={yMin}
            aria-valuemax={yMax}
            aria-valuenow={w}
            aria-valuetext={`${formatWeight(w)} at ${p <= 1 ? `${formatWeight(p * 100)}% of the run` : `step ${p}`}`}
            onPointerDown={onPointerDown(i)}
            onPointerMove={onPointerMove}
            onPointerUp={endDrag}
            onPointerCancel={endDrag}
            onKeyDown={onKeyDown(i)}
          />
        ))}
      </svg>
      <p id={hintId} className="note">
        Drag a point, or focus it and use the arrow keys (up/down: value, left/right: step, Delete: remove).
      </p>
      <div className="row">
        <label className="field grow">
          <span>loractl schedule</span>
          <input
            value={text}
            onChange={(e) => onText(e.target.value)}
            aria-label={`${label} schedule (loractl)`}
            aria-invalid={parseError !== null || undefined}
            aria-describedby={parseError ? errorId : undefined}
            placeholder="0@0,1@0.5"
            spellCheck={false}
            autoComplete="off"
          />
        </label>
        <button type="button" onClick={addPoint}>
          Add point
        </button>
      </div>
      {parseError && (
        <p id={errorId} className="field-error">
          {parseError}
        </p>
      )}
      <fieldset className="row presets" aria-label={`${label} schedule presets`}>
        {PRESETS.map((p) => (
          <button
            key={p.name}
            type="button"
            className="secondary"
            onClick={() => onChange(schedulePreset(p.name))}
          >
            {p.text}
          </button>
        ))}
      </fieldset>
      <div className="step-values">
        <table aria-label={`${label} per-step values`}>
          <caption>Effective value per step ({effectiveHint})</caption>
          <thead>
            <tr>
              <th scope="row">Step</th>
              {effective.map((_, i) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: one column per step
                <th key={i} scope="col">
                  {i + 1}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            <tr>
              <th scope="row">Value</th>
              {effective.map((v, i) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: one column per step
                <td key={i}>
                  <data value={v}>{v.toFixed(2)}</data>
                </td>
              ))}
            </tr>
          </tbody>
        </table>
      </div>
    </div>
  );
}
