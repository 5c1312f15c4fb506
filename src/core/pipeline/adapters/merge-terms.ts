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
 * (= `sum_t |c_t| sum_r max|up_t[:,r]| max|down_t[r,:]|`, the factor part cached per term uid)
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

/**
 * sum_r max_o |up[o, r]| * max_i |down[r, i]| over the first `rank` ranks (NaN if a factor holds
 * a NaN): the bound of `up · down` per unit of coefficient. Cached per module while its `uid` and
 * factor arrays stay (a hotswap rewrites factors in place under a new uid); not cached without a uid.
 */
interface UnitBound {
  uid: number;
  up: Float32Array;
  down: Float32Array;
  value: number;
}
const unitBoundCache = new WeakMap<AdapterModule, UnitBound>();

function unitBound(m: AdapterModule, out: number, n: number, uid: number | undefined): number {
  const up = m.factors.up!.data;
  const down = m.factors.down!.data;
  const hit = unitBoundCache.get(m);
  if (hit && uid !== undefined && hit.uid === uid && hit.up === up && hit.down === down) return hit.value;
  const k = m.rank;
  const tr = m.factors.down!.shape[0] ?? k;
  let value = 0;
  for (let r = 0; r < k; r++) {
    let mu = 0;
    for (let o = r; o < out * tr; o += tr) {
      const x = Math.abs(up[o]!);
      if (x > mu) mu = x;
      else if (Number.isNaN(x)) return Number.NaN;
    }
    let md = 0;
    for (let i = r * n; i < (r + 1) * n; i++) {
      const x = Math.abs(down[i]!);
      if (x > md) md = x;
      else if (Number.isNaN(x)) return Number.NaN;
    }
    value += mu * md;
  }
  if (uid !== undefined) unitBoundCache.set(m, { uid, up, down, value });
  return value;
}

export interface MergeRequest {
  base: BaseParams;
  /** `uid` (the weight store's): names the factor data, so their bound can be cached. */
  terms: readonly (AdapterTerm & { uid?: number })[];
  /** For messages. */
  label: string;
  /**
   * Where to write the merged weight (same length as the base's, not the base's own array nor a
   * factor): the caller's spare buffer, so a per-step re-merge allocates nothing. Default: a new
   * array. The oracle path (no backend) ignores it.
   */
  out?: Float32Array;
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
    const len = r.base.weight.data.length;
    const weight =
      r.out && r.out.length === len && r.out !== r.base.weight.data ? r.out : new Float32Array(len);
    results.push(
      r.base.bias
        ? { weight: { shape: [...shape], data: weight }, bias: r.base.bias }
        : { weight: { shape: [...shape], data: weight } },
    );
    const rank = fast.reduce((a, t) => a + t.module.rank, 0);
    const u = new Float32Array(out * rank);
    // |U·D| <= sum_t |c_t| * unitBound_t: the factors' part is cached, the coefficient changes.
    let bound = 0;
    let off = 0;
    for (const t of fast) {
      const m = t.module;
      const k = m.rank;
      const tr = m.factors.down!.shape[0] ?? k;
      const c = t.coefficient * moduleScale(m);
      const up = m.factors.up!.data;
      if (k === rank && tr === k) {
        for (let i = 0; i < out * k; i++) u[i] = c * up[i]!;
      } else {
        for (let o = 0; o < out; o++) {
          const src = o * tr;
          const dst = o * rank + off;
          for (let j = 0; j < k; j++) u[dst + j] = c * up[src + j]!;
        }
      }
      bound += Math.abs(c) * unitBound(m, out, n, t.uid);
      off += k;
    }
    // One term: its own `down` rows (a view, no copy); several: concatenated along the rank axis.
    const d =
      fast.length === 1
        ? fast[0]!.module.factors.down!.data.subarray(0, rank * n)
        : concatDown(fast, rank, n);
    jobs.push({ w0: r.base.weight.data, out: weight, u, d, shape: { out, in: n, rank }, label: r.label });
    finite.push(rest[rest.length - 1]!.length === 0 && maxAbsOf(r.base.weight.data) + bound < FINITE_BOUND);
  }
  await backend.mergeMany(jobs);
  return results.map((res, i) => ({
    params: withOtherTerms(res, requests[i]!, rest[i]!),
    provablyFinite: finite[i]!,
  }));
}

/** `[down_1[:k_1]; down_2[:k_2]; ...]`, `[rank, n]`. */
function concatDown(fast: readonly AdapterTerm[], rank: number, n: number): Float32Array {
  const d = new Float32Array(rank * n);
  let off = 0;
  for (const t of fast) {
    const k = t.module.rank;
    d.set(t.module.factors.down!.data.subarray(0, k * n), off * n);
    off += k;
  }
  return d;
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
