import { useEffect, useId, useState } from 'react';

interface NumberSliderProps {
  /** The slider's accessible name (e.g. "style weight"); the number box is "<name> value". */
  name: string;
  value: number;
  min: number;
  max: number;
  /** Slider step; the number box takes any finite number. */
  step?: number;
  onChange(value: number): void;
  /** Visible text before the slider; the name is used for assistive tech either way. */
  caption?: string;
  disabled?: boolean;
}

/** Shows a number the way the number box writes it: at most 4 decimals, no trailing zeros. */
export function formatWeight(v: number): string {
  return String(Number(v.toFixed(4)));
}

/**
 * A range slider and a number box bound to one value: moving either updates the other. The
 * number box may go past the slider's range (the slider then rests at its end).
 */
export function NumberSlider({
  name,
  value,
  min,
  max,
  step = 0.01,
  onChange,
  caption,
  disabled,
}: NumberSliderProps) {
  const [text, setText] = useState(formatWeight(value));
  const [invalid, setInvalid] = useState(false);
  const hintId = useId();

  // Follow outside changes (the slider, a preset) unless the box already says the same number.
  useEffect(() => {
    setText((t) => (Number(t) === value && t.trim() !== '' ? t : formatWeight(value)));
    setInvalid(false);
  }, [value]);

  const onText = (t: string) => {
    setText(t);
    const v = Number(t);
    const ok = t.trim() !== '' && Number.isFinite(v);
    setInvalid(!ok);
    if (ok && v !== value) onChange(v);
  };

  return (
    <div className="number-slider">
      {caption && <span className="number-slider-caption">{caption}</span>}
      <input
        type="range"
        aria-label={name}
        min={min}
        max={max}
        step={step}
        value={Math.min(Math.max(value, min), max)}
        disabled={disabled}
        onChange={(e) => onChange(Number(e.target.value))}
      />
      <input
        type="number"
        className="number-box"
        aria-label={`${name} value`}
        aria-invalid={invalid || undefined}
        aria-describedby={invalid ? hintId : undefined}
        step={step}
        value={text}
        disabled={disabled}
        onChange={(e) => onText(e.target.value)}
        onBlur={() => {
          if (invalid) {
            setText(formatWeight(value));
            setInvalid(false);
          }
        }}
      />
      {invalid && (
        <span id={hintId} className="field-error">
          Enter a number
        </span>
      )}
    </div>
  );
}
