/**
 * Fixture plumbing for the combination tests: the `peft_add_weighted_adapter` cases (their JSON
 * and tensors), canonical adapters built from the stored source factors, and naive reference
 * arithmetic written here independently of src/core/lora/combine.
 */
import { readFileSync } from 'node:fs';
import { readSafetensors } from '../../src/core/io/safetensors.ts';
import type { AdapterModule, CanonicalAdapter, F32Tensor } from '../../src/core/lora/adapter.ts';

export const FIX = 'tests/fixtures';

export interface Combo {
  name: string;
  combination_type: string;
  weights: number[];
  density?: number;
  majority_sign_method?: 'total' | 'frequency';
  svd_rank?: number;
}

export interface Source {
  repo: string;
  weight_name: string;
  adapter_name: string;
}

export interface WeightedCase {
  layer: string;
  sources: Source[];
  combos: Combo[];
  peftResults: Record<string, { r?: number; lora_alpha?: number; error?: string }>;
  tensors: Map<string, F32Tensor>;
}

export function loadWeightedCase(name: string): WeightedCase {
  const json = JSON.parse(readFileSync(`${FIX}/cases/${name}.json`, 'utf8'));
  const op = json.ops[0];
  const path = `${FIX}/cases/${json.tensors_file}`;
  const f = readSafetensors(new Uint8Array(readFileSync(path)), path);
  const tensors = new Map<string, F32Tensor>(
    f.names().map((n) => [n.replace(/^outputs\./, ''), { shape: [...f.info(n).shape], data: f.float32(n) }]),
  );
  return {
    layer: op.layer_module,
    sources: op.sources,
    combos: op.combos,
    peftResults: json.peft_results,
    tensors,
  };
}

export function get(c: WeightedCase, key: string): F32Tensor {
  const t = c.tensors.get(key);
  if (!t) throw new Error(`fixture has no '${key}' (has ${[...c.tensors.keys()].join(', ')})`);
  return t;
}

/** One-module adapter from the case's stored source factors; alpha = scaling * rank. */
export function sourceAdapter(c: WeightedCase, adapter: string): CanonicalAdapter {
  const down = get(c, `source.${adapter}.lora_A`);
  const up = get(c, `source.${adapter}.lora_B`);
  const scaling = get(c, `source.${adapter}.scaling`).data[0]!;
  const rank = down.shape[0]!;
  const m: AdapterModule = {
    component: 'unet',
    module: c.layer,
    kind: 'lora',
    factors: { down, up },
    alpha: scaling * rank,
    rank,
    format: 'peft',
    sourceKeys: [`unet.${c.layer}.lora_A.weight`, `unet.${c.layer}.lora_B.weight`],
  };
  return { source: adapter, modules: [m], unmapped: [], metadata: {} };
}

/** C[m,n] = A[m,k] B[k,n], float64, the plain triple loop. */
export function matmulRef(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  m: number,
  k: number,
  n: number,
): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[i * k + p]! * b[p * n + j]!;
      c[i * n + j] = s;
    }
  return c;
}

/** up · down · scale for LoRA factors up [out, r], down [r, cols]. */
export function loraDeltaRef(up: F32Tensor, down: F32Tensor, scale = 1): Float64Array {
  const r = down.shape[0]!;
  const out = up.shape[0]!;
  const cols = down.data.length / r;
  const d = matmulRef(up.data, down.data, out, r, cols);
  for (let i = 0; i < d.length; i++) d[i]! *= scale;
  return d;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
