/**
 * Which adapter terms the fast merge paths take (the CPU merge backend's GEMM, the GPU store's
 * persistent merge-lora launch): a plain LoRA, no DoRA, no bias, factors [out, T] · [T, n].
 */
import type { AdapterModule } from '../../lora/adapter.ts';

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Whether `m`'s factors apply to an [out, n] weight as one low-rank product. */
export function isPlainLora(m: AdapterModule, out: number, n: number): boolean {
  if (m.kind !== 'lora' || m.dora || m.factors.bias) return false;
  const up = m.factors.up;
  const down = m.factors.down;
  if (!up || !down) return false;
  const t = down.shape[0] ?? 0;
  return (
    m.rank > 0 &&
    m.rank <= t &&
    up.shape[0] === out &&
    up.shape[1] === t &&
    numel(up.shape) === out * t &&
    numel(down.shape) === t * n
  );
}
