import type { UNetBlockLayout } from '../api.ts';
import { type UNetBlockWeights, uniformBlockWeights, type WeightRange } from '../state/slices/loras.ts';
import { NumberSlider } from './number-slider.tsx';

interface BlockWeightsEditorProps {
  adapterName: string;
  /** The attention blocks of the LoRA's base (from the engine's summary). */
  layout: UNetBlockLayout;
  /** Absent: the same weight everywhere. */
  value: UNetBlockWeights | undefined;
  range: WeightRange;
  onChange(value: UNetBlockWeights | undefined): void;
}

/**
 * Presets as the B-LoRA / InstantStyle experiments use the UNet: the up blocks carry style, the
 * down blocks the layout. Each sets every block of a group to one value.
 */
const PRESETS: { text: string; value: { down: number; mid: number; up: number } }[] = [
  { text: 'All 1', value: { down: 1, mid: 1, up: 1 } },
  { text: 'Style only (up)', value: { down: 0, mid: 0, up: 1 } },
  { text: 'Composition (down)', value: { down: 1, mid: 0, up: 0 } },
];

type Side = 'down' | 'up';

/**
 * UNet block multipliers of one adapter, as Diffusers' block dict (`set_adapters(name,
 * {"unet": {"down": ..., "mid": ..., "up": ...}})`): a slider per group (sets every block of
 * it) and per block, with presets. The text encoders keep the plain weight.
 */
export function BlockWeightsEditor({ adapterName, layout, value, range, onChange }: BlockWeightsEditorProps) {
  const current = value ?? uniformBlockWeights(layout, { down: 1, mid: 1, up: 1 });

  const setGroup = (side: Side, v: number) =>
    onChange({ ...current, [side]: Object.fromEntries(Object.keys(current[side]).map((k) => [k, v])) });
  const setBlock = (side: Side, key: string, v: number) =>
    onChange({ ...current, [side]: { ...current[side], [key]: v } });

  const group = (side: Side) => {
    const blocks = Object.entries(current[side]);
    if (blocks.length === 0) return null;
    const first = blocks[0]![1];
    const mixed = blocks.some(([, v]) => v !== first);
    return (
      <fieldset className="block-group">
        <legend>{side === 'down' ? 'Down blocks' : 'Up blocks'}</legend>
        <NumberSlider
          name={`${adapterName} ${side} blocks`}
          caption={mixed ? `all (mixed)` : 'all'}
          value={first}
          min={range.min}
          max={range.max}
          onChange={(v) => setGroup(side, v)}
        />
        {blocks.map(([key, v]) => (
          <NumberSlider
            key={key}
            name={`${adapterName} ${side} ${key}`}
            caption={key}
            value={v}
            min={range.min}
            max={range.max}
            onChange={(nv) => setBlock(side, key, nv)}
          />
        ))}
      </fieldset>
    );
  };

  return (
    <fieldset className="block-weights" aria-label={`${adapterName} block weights`}>
      <fieldset className="row presets" aria-label={`${adapterName} block weight presets`}>
        {PRESETS.map((p) => (
          <button
            key={p.text}
            type="button"
            className="secondary"
            onClick={() => onChange(uniformBlockWeights(layout, p.value))}
          >
            {p.text}
          </button>
        ))}
        <button type="button" className="secondary" disabled={!value} onClick={() => onChange(undefined)}>
          Clear
        </button>
      </fieldset>
      <p className="note">
        {value
          ? 'Multipliers of the adapter weight per UNet block with attentions; text encoders use the plain weight.'
          : 'Not set: the adapter weight applies to every block. Move a slider or pick a preset to weight blocks.'}
      </p>
      <div className="block-groups">
        {group('down')}
        {layout.mid && (
          <fieldset className="block-group">
            <legend>Mid block</legend>
            <NumberSlider
              name={`${adapterName} mid block`}
              value={current.mid}
              min={range.min}
              max={range.max}
              onChange={(v) => onChange({ ...current, mid: v })}
            />
          </fieldset>
        )}
        {group('up')}
      </div>
    </fieldset>
  );
}
