/**
 * `W0 + sum_i deltaWeight(m_i, W0, c_i)` for many modules at once, on the CPU merge backend
 * (lora/merge-fast). A plain LoRA term (no DoRA, no bias) is a delta `dW = (s·up)·down` (s =
 * alpha/rank; one backend product, `mergeMany` for all of a call's missing deltas at once) and a
 * coefficient, and the module's weight is
 *
 *     W = W0 ⊕ (c_1 ⊗ dW_1 ⊕ c_2 ⊗ dW_2 ⊕ ...)        (float32, merge-fast/combine-deltas.ts)
 *
 * With the backend's delta cache (merge-fast/delta-cache.ts, keyed by module and term uid) a
 * delta is kept from the second merge of the same factors on, and a coefficient-only change (a
 * per-step schedule) is that memory-bound pass alone. A module with one term whose delta is not
 * kept (first merge, over budget, no cache) is merged in one product `W0 + c ⊗ (s·up)·down`
 * (MergeJob.scale, on backends with `scaledMerge`), which has the bits of the combine; on other
 * backends the delta is computed on its own and combined. Whether a delta came from the cache or
 * was just computed, its bits are the same (the same product of the same float32 `s·up`), and so
 * is the combine (wasm or JS): a merge's result never depends on what the cache holds, so fusing
 * and re-merging stay deterministic. Every other term (DoRA, LoHa, LoKr, full, norm, Tucker, a LoRA
 * bias) is added from merge-cpu's `deltaWeight`, taken against W0 as `applyAdapters` does.
 * Without a backend this is merge-cpu's `applyAdapters`, the oracle.
 *
 * Only the first `rank` rows of `down` / columns of `up` are read, so target-rank (hotswap)
 * buffers give the same product as the file's own factors.
 *
 * `provablyFinite`: when a module has only backend terms, `max|W0| + sum_t |c_t s_t| sum_r
 * max|up_t[:,r]| max|down_t[r,:]|` (the factor part cached per term uid) bounds every output
 * value, and `|s_t| sum_r ...` every delta; below FINITE_BOUND the result cannot hold NaN/Inf and
 * the caller may skip scanning it (max|W0| is computed once per base array).
 */
import type { AdapterModule } from '../../lora/adapter.ts';
import {
  type AdapterTerm,
  applyAdapters,
  type BaseParams,
  deltaWeight,
  moduleScale,
} from '../../lora/merge-cpu.ts';
import { combineDeltas } from '../../lora/merge-fast/combine-deltas.ts';
import type { DeltaEntry, DeltaKey } from '../../lora/merge-fast/delta-cache.ts';
import type { MergeBackend, MergeJob } from '../../lora/merge-fast/merge-backend.ts';
import { isPlainLora } from './plain-lora.ts';

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

function addInto(dst: Float32Array, src: Float32Array): void {
  for (let i = 0; i < dst.length; i++) dst[i]! += src[i]!;
}

/** A plain LoRA term of one request, and where its delta comes from. */
interface FastTerm {
  term: AdapterTerm & { uid?: number };
  /** moduleScale (alpha / rank). */
  s: number;
  delta: DeltaEntry | Float32Array | null;
}

export async function mergeModules(
  requests: readonly MergeRequest[],
  backend: MergeBackend | null,
): Promise<MergedModule[]> {
  if (!backend)
    return requests.map((r) => ({ params: applyAdapters(r.base, r.terms), provablyFinite: false }));
  const cache = backend.deltaCache ?? null;
  cache?.begin();
  const results: BaseParams[] = [];
  const fastOf: FastTerm[][] = [];
  const rest: AdapterTerm[][] = [];
  const finite: boolean[] = [];
  /** Requests whose weight a scaled merge computes outright (no combine after). */
  const direct = new Set<number>();
  // Every product of the call in one mergeMany: deltas to keep or to combine, and direct merges.
  const jobs: MergeJob[] = [];
  const computed: { ft: FastTerm; slot: DeltaEntry | null; dw: Float32Array }[] = [];
  requests.forEach((r, index) => {
    const shape = r.base.weight.shape;
    const out = shape[0] ?? 1;
    const n = numel(shape) / out;
    const fast = r.terms.filter((t) => isPlainLora(t.module, out, n));
    rest.push(r.terms.filter((t) => !fast.includes(t)));
    const len = r.base.weight.data.length;
    const weight =
      r.out && r.out.length === len && r.out !== r.base.weight.data ? r.out : new Float32Array(len);
    results.push(
      r.base.bias
        ? { weight: { shape: [...shape], data: weight }, bias: r.base.bias }
        : { weight: { shape: [...shape], data: weight } },
    );
    // |W - W0| <= sum_t |c_t s_t| unitBound_t, and each delta alone <= |s_t| unitBound_t.
    let bound = 0;
    let deltasFinite = true;
    const fts: FastTerm[] = [];
    const slots: (DeltaEntry | null)[] = [];
    for (const t of fast) {
      const m = t.module;
      const s = moduleScale(m);
      const ub = unitBound(m, out, n, t.uid);
      bound += Math.abs(t.coefficient * s) * ub;
      if (!(Math.abs(s) * ub < FINITE_BOUND)) deltasFinite = false;
      const key: DeltaKey | null =
        cache && t.uid !== undefined ? { owner: m, uid: t.uid, scale: s, rank: m.rank, out, in: n } : null;
      const hit = key ? cache!.lookup(key) : null;
      fts.push({ term: t, s, delta: hit });
      slots.push(hit || !key ? null : cache!.reserve(key));
    }
    const job = (
      m: AdapterModule,
      s: number,
      w0: Float32Array,
      dst: Float32Array,
      scale?: number,
    ): MergeJob => ({
      w0,
      out: dst,
      u: scaledUp(m, out, s),
      d: m.factors.down!.data.subarray(0, m.rank * n),
      shape: { out, in: n, rank: m.rank },
      label: r.label,
      ...(scale === undefined ? {} : { scale }),
    });
    const only = fts.length === 1 ? fts[0]! : null;
    if (only && !only.delta && !slots[0] && backend.scaledMerge) {
      // one term, not kept: W0 + c·((s·up)·down) in one product, the bits of the combine
      jobs.push(job(only.term.module, only.s, r.base.weight.data, weight, only.term.coefficient));
      direct.add(index);
    } else {
      fts.forEach((ft, k) => {
        if (ft.delta) return;
        const dw = new Float32Array(out * n);
        jobs.push(job(ft.term.module, ft.s, dw, dw));
        computed.push({ ft, slot: slots[k]!, dw });
      });
    }
    fastOf.push(fts);
    finite.push(
      rest[rest.length - 1]!.length === 0 &&
        deltasFinite &&
        maxAbsOf(r.base.weight.data) + bound < FINITE_BOUND,
    );
  });
  try {
    if (jobs.length > 0) await backend.mergeMany(jobs);
  } catch (e) {
    for (const c of computed) if (c.slot) cache!.discard(c.slot);
    throw e;
  }
  for (const c of computed) {
    if (c.slot) cache!.fill(c.slot, c.dw);
    c.ft.delta = c.slot ?? c.dw;
  }
  requests.forEach((r, i) => {
    if (direct.has(i)) return;
    const terms = fastOf[i]!.map((ft) => ({ delta: ft.delta!, coefficient: ft.term.coefficient }));
    const out = results[i]!.weight.data;
    if (cache) cache.combine(out, r.base.weight.data, terms);
    else combineDeltas(out, r.base.weight.data, terms as { delta: Float32Array; coefficient: number }[]);
  });
  return results.map((res, i) => ({
    params: withOtherTerms(res, requests[i]!, rest[i]!),
    provablyFinite: finite[i]!,
  }));
}

/** `s·up[:, :rank]` as `[out, rank]` (float32). */
function scaledUp(m: AdapterModule, out: number, s: number): Float32Array {
  const k = m.rank;
  const tr = m.factors.down!.shape[0] ?? k;
  const up = m.factors.up!.data;
  const u = new Float32Array(out * k);
  if (tr === k) {
    for (let i = 0; i < out * k; i++) u[i] = s * up[i]!;
  } else {
    for (let o = 0; o < out; o++) for (let j = 0; j < k; j++) u[o * k + j] = s * up[o * tr + j]!;
  }
  return u;
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
