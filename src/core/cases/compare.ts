/** Max abs error of each case output against the case's stored `outputs.<name>`. */
import type { SafetensorsFile } from '../io/safetensors.ts';
import type { CaseTensor } from './state-ops.ts';

export interface OutputComparison {
  name: string;
  /** Infinity when the shapes differ, the reference is missing, or a value is NaN. */
  maxAbs: number;
  ok: boolean;
  /** Why it failed beyond the number (shape, missing reference). */
  problem?: string;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
  }
  return m;
}

export function compareOutputs(
  outputs: ReadonlyMap<string, CaseTensor>,
  reference: SafetensorsFile,
  tolerance: number,
): OutputComparison[] {
  const stored = new Set(reference.names());
  return [...outputs].map(([name, t]) => {
    const key = `outputs.${name}`;
    if (!stored.has(key)) {
      return {
        name,
        maxAbs: Number.POSITIVE_INFINITY,
        ok: false,
        problem: `no '${key}' in ${reference.fileName}`,
      };
    }
    const shape = reference.info(key).shape;
    if (shape.length !== t.shape.length || shape.some((d, i) => d !== t.shape[i])) {
      return {
        name,
        maxAbs: Number.POSITIVE_INFINITY,
        ok: false,
        problem: `shape [${t.shape}] but the reference is [${shape}]`,
      };
    }
    const maxAbs = maxAbsDiff(t.data, reference.float32(key));
    return { name, maxAbs, ok: maxAbs <= tolerance };
  });
}
