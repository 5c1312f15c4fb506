/**
 * SVD factors are unique only up to the sign of each singular pair: row i of `lora_A` and column
 * i of `lora_B` may both be negated without changing `lora_B @ lora_A`, and which sign an SVD
 * returns is an accident of its algorithm (torch's LAPACK vs our Jacobi). Before a
 * `peft_add_weighted_adapter` case's `*svd` factors are compared with the stored ones, each pair
 * whose `lora_A` row points away from the reference's is negated (both factors); the comparison
 * then still checks every value, and `delta_weight` is compared as it is.
 */
import type { SafetensorsFile } from '../io/safetensors.ts';
import type { CaseJson } from './case-json.ts';
import type { CaseTensor } from './state-ops.ts';

interface Combo {
  name?: unknown;
  combination_type?: unknown;
}

/** Names of the `*svd` combinations of the case's `peft_add_weighted_adapter` ops. */
export function svdCombos(c: CaseJson): string[] {
  const out: string[] = [];
  for (const op of c.ops) {
    if (op.op !== 'peft_add_weighted_adapter') continue;
    const combos = (op as { combos?: unknown }).combos;
    if (!Array.isArray(combos)) continue;
    for (const combo of combos as Combo[]) {
      if (typeof combo.name === 'string' && String(combo.combination_type).endsWith('svd'))
        out.push(combo.name);
    }
  }
  return out;
}

/** Negates pair i of (A [r, ...], B [out, r, ...]) in place. */
function negatePair(a: Float32Array, b: Float32Array, r: number, i: number): void {
  const cols = a.length / r;
  for (let j = i * cols; j < (i + 1) * cols; j++) a[j] = -a[j]!;
  const out = b.length / r;
  for (let o = 0; o < out; o++) b[o * r + i] = -b[o * r + i]!;
}

/**
 * The outputs with every `*svd` combination's singular pairs sign-aligned to the stored ones
 * (copies; the rest as given), and per combination how many pairs were negated.
 */
export function alignSvdSigns(
  c: CaseJson,
  outputs: ReadonlyMap<string, CaseTensor>,
  reference: SafetensorsFile,
): { outputs: Map<string, CaseTensor>; negated: Map<string, number> } {
  const aligned = new Map(outputs);
  const negated = new Map<string, number>();
  const stored = new Set(reference.names());
  for (const name of svdCombos(c)) {
    const a = outputs.get(`${name}.lora_A`);
    const b = outputs.get(`${name}.lora_B`);
    const refKey = `outputs.${name}.lora_A`;
    if (!a || !b || !stored.has(refKey)) continue;
    const ref = reference.float32(refKey);
    const r = a.shape[0] ?? 0;
    if (ref.length !== a.data.length || r === 0 || b.data.length % r !== 0) continue;
    const da = a.data.slice();
    const db = b.data.slice();
    const cols = da.length / r;
    let count = 0;
    for (let i = 0; i < r; i++) {
      let dot = 0;
      for (let j = i * cols; j < (i + 1) * cols; j++) dot += da[j]! * ref[j]!;
      if (dot < 0) {
        negatePair(da, db, r, i);
        count++;
      }
    }
    aligned.set(`${name}.lora_A`, { shape: a.shape, data: da });
    aligned.set(`${name}.lora_B`, { shape: b.shape, data: db });
    negated.set(name, count);
  }
  return { outputs: aligned, negated };
}
