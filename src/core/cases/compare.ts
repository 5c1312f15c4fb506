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
  /** The stored output it was compared with, when not its own name. */
  reference?: string;
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

/** `referenceOf(name)`: the stored output to compare `name` with (default: `name`). */
export function compareOutputs(
  outputs: ReadonlyMap<string, CaseTensor>,
  reference: SafetensorsFile,
  tolerance: number,
  referenceOf: (name: string) => string = (name) => name,
): OutputComparison[] {
  const stored = new Set(reference.names());
  return [...outputs].map(([name, t]) => {
    const ref = referenceOf(name);
    const other = ref !== name ? { reference: ref } : {};
    const key = `outputs.${ref}`;
    if (!stored.has(key)) {
      return {
        name,
        ...other,
        maxAbs: Number.POSITIVE_INFINITY,
        ok: false,
        problem: `no '${key}' in ${reference.fileName}`,
      };
    }
    const shape = reference.info(key).shape;
    if (shape.length !== t.shape.length || shape.some((d, i) => d !== t.shape[i])) {
      return {
        name,
        ...other,
        maxAbs: Number.POSITIVE_INFINITY,
        ok: false,
        problem: `shape [${t.shape}] but the reference is [${shape}]`,
      };
    }
    const maxAbs = maxAbsDiff(t.data, reference.float32(key));
    return { name, ...other, maxAbs, ok: maxAbs <= tolerance };
  });
}
