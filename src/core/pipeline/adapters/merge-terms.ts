/**
 * `W0 + sum_i deltaWeight(m_i, W0, c_i)` for many modules at once, on the CPU merge backend
 * (lora/merge-fast): plain LoRA terms (no DoRA, no bias) of a module become one product
 * `W0 + U·D`, `U = [c_1 s_1 up_1 | c_2 s_2 up_2 | ...]` and `D = [down_1; down_2; ...]`
 * (DESIGN.md decision 3: factors concatenated along the rank axis, coefficient folded in), one
 * `mergeMany` for all modules. Every other term (DoRA, LoHa, LoKr, full, norm, Tucker, a LoRA
 * bias) is added from merge-cpu's `deltaWeight`, taken against W0 as `applyAdapters` does.
 * Without a backend this is merge-cpu's `applyAdapters`, the oracle.
 *
 * Only the first `rank` rows of `down` / columns of `up` are read, so target-rank (hotswap)
 * buffers give the same product as the file's own factors.
 *
 * `provablyFinite`: when a module has only backend terms, `max|W0| + sum_r max|U[:,r]| max|D[r,:]|`
 * bounds every output value; below FINITE_BOUND the result cannot hold NaN/Inf and the caller
 * may skip scanning it (max|W0| is computed once per base array).
 */
import type { AdapterModule } from '../../lora/adapter.ts';
import {
  type AdapterTerm,
  applyAdapters,
  type BaseParams,
  deltaWeight,
  moduleScale,
} from '../../lora/merge-cpu.ts';
import type { MergeBackend, MergeJob } from '../../lora/merge-fast/merge-backend.ts';

/** Far below float32's 3.4e38, so rounding in the sums cannot reach it. */
const FINITE_BOUND = 1e37;

export interface MergedModule {
  params: BaseParams;
  /** The bound above proves every value finite (no scan needed). */
  provablyFinite: boolean;
}

const maxAbsCache = new WeakMap<Float32Array, number>();

/** max |x| (NaN if any value is NaN), cached per array: base arrays are never written. */
function maxAbsOf(a: Float32Array): number {
  const hit = maxAbsCache.get(a);
  if (hit !== undefined) return hit;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const x = Math.abs(a[i]!);
    if (!(x <= m)) m = Number.isNaN(x) ? Number.NaN : x;
    if (Number.isNaN(m)) break;
  }
  maxAbsCache.set(a, m);
  return m;
}

/** sum_r max_o |U[o,r]| * max_i |D[r,i]| for U [out, rank], D [rank, n]. */
function productBound(u: Float32Array, d: Float32Array, out: number, rank: number, n: number): number {
  let bound = 0;
  for (let r = 0; r < rank; r++) {
    let mu = 0;
    for (let o = 0; o < out; o++) mu = Math.max(mu, Math.abs(u[o * rank + r]!));
    let md = 0;
    for (let i = r * n; i < (r + 1) * n; i++) md = Math.max(md, Math.abs(d[i]!));
    bound += mu * md;
  }
  return bound;
}

export interface MergeRequest {
  base: BaseParams;
  terms: readonly AdapterTerm[];
  /** For messages. */
  label: string;
}

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** A term the backend can take: a plain LoRA whose factors fit the base as [out, r] · [r, n]. */
function linear(m: AdapterModule, out: number, n: number): boolean {
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

function addInto(dst: Float32Array, src: Float32Array): void {
  for (let i = 0; i < dst.length; i++) dst[i]! += src[i]!;
}

export async function mergeModules(
  requests: readonly MergeRequest[],
  backend: MergeBackend | null,
): Promise<MergedModule[]> {
  if (!backend)
    return requests.map((r) => ({ params: applyAdapters(r.base, r.terms), provablyFinite: false }));
  const jobs: MergeJob[] = [];
  const results: BaseParams[] = [];
  const rest: AdapterTerm[][] = [];
  const finite: boolean[] = [];
  for (const r of requests) {
    const shape = r.base.weight.shape;
    const out = shape[0] ?? 1;
    const n = numel(shape) / out;
    const fast = r.terms.filter((t) => linear(t.module, out, n));
    rest.push(r.terms.filter((t) => !fast.includes(t)));
    const weight = new Float32Array(r.base.weight.data.length);
    results.push(
      r.base.bias
        ? { weight: { shape: [...shape], data: weight }, bias: r.base.bias }
        : { weight: { shape: [...shape], data: weight } },
    );
    const rank = fast.reduce((a, t) => a + t.module.rank, 0);
    const u = new Float32Array(out * rank);
    const d = new Float32Array(rank * n);
    let off = 0;
    for (const t of fast) {
      const m = t.module;
      const k = m.rank;
      const tr = m.factors.down!.shape[0] ?? k;
      const c = t.coefficient * moduleScale(m);
      const up = m.factors.up!.data;
      for (let o = 0; o < out; o++) {
        for (let j = 0; j < k; j++) u[o * rank + off + j] = c * up[o * tr + j]!;
      }
      d.set(m.factors.down!.data.subarray(0, k * n), off * n);
      off += k;
    }
    jobs.push({ w0: r.base.weight.data, out: weight, u, d, shape: { out, in: n, rank }, label: r.label });
    finite.push(
      rest[rest.length - 1]!.length === 0 &&
        maxAbsOf(r.base.weight.data) + productBound(u, d, out, rank, n) < FINITE_BOUND,
    );
  }
  await backend.mergeMany(jobs);
  return results.map((res, i) => ({
    params: withOtherTerms(res, requests[i]!, rest[i]!),
    provablyFinite: finite[i]!,
  }));
}

/** Adds the terms the backend did not take (DoRA, LoHa, ...), each against W0. */
function withOtherTerms(res: BaseParams, request: MergeRequest, others: readonly AdapterTerm[]): BaseParams {
  if (others.length === 0) return res;
  const base = request.base;
  let bias = base.bias ? new Float32Array(base.bias.data) : undefined;
  let biasShape = base.bias?.shape;
  for (const t of others) {
    const delta = deltaWeight(t.module, base, t.coefficient, t.source ? { source: t.source } : {});
    addInto(res.weight.data, delta.weight.data);
    if (delta.bias) {
      bias ??= new Float32Array(delta.bias.data.length);
      biasShape ??= delta.bias.shape;
      addInto(bias, delta.bias.data);
    }
  }
  return bias && biasShape ? { weight: res.weight, bias: { shape: [...biasShape], data: bias } } : res;
}
