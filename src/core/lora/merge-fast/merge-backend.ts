/**
 * The CPU merge primitive behind fuse/merge on the wasm path (no WebGPU, Node CLI):
 *
 *     out[o, i] = W0[o, i] + Σ_r U[o, r] · D[r, i]        (float32, row-major)
 *
 * `U` is `[out, R]` with every coefficient already folded in (strength · alpha/rank · block
 * multiplier, several adapters concatenated along R, DESIGN.md decision 3); `D` is `[R, in]`.
 * A conv weight `[out, in, kh, kw]` is merged flattened, as `in = in·kh·kw`.
 * `out` may be `W0` itself (an in-place fuse); it must not overlap `U` or `D`.
 *
 * Backends (`createMergeBackend`): `scalar` (the JS oracle) and `ort-wasm` (onnxruntime-web's
 * wasm Gemm, SIMD, 1 or more threads). Every backend gives the same numbers within float32
 * rounding of a rank-R dot product.
 */
import { LorafuseError } from '../../../errors.ts';
import type { DeltaCache } from './delta-cache.ts';

export interface MergeShape {
  /** Rows of W (output features). */
  readonly out: number;
  /** Columns of W (input features; `in·kh·kw` for a conv). */
  readonly in: number;
  /** Total rank R (the concatenated rank of all adapters on the module); 0 copies W0. */
  readonly rank: number;
}

export interface MergeJob {
  /** `[out, in]`, read only. */
  readonly w0: Float32Array;
  /** `[out, in]`, written; may be `w0`. */
  readonly out: Float32Array;
  /** `[out, R]`, coefficients folded in. */
  readonly u: Float32Array;
  /** `[R, in]`. */
  readonly d: Float32Array;
  readonly shape: MergeShape;
  /** The module's name, for error messages (e.g. `down_blocks.0.attentions.0...to_q`). */
  readonly label?: string;
  /**
   * `out = W0 + scale ⊗ (U·D)` (default 1: `W0 + U·D`), honoured only by backends with
   * `scaledMerge`: the product is rounded to float32 first, then multiplied by `fround(scale)` and
   * added, so the result has the bits of delta-cache's combine of the same backend's `U·D`.
   */
  readonly scale?: number;
}

export interface MergeBackend {
  readonly name: string;
  /** `out = W0 + U·D` for one module. */
  mergeInto(
    w0: Float32Array,
    out: Float32Array,
    u: Float32Array,
    d: Float32Array,
    shape: MergeShape,
  ): Promise<void>;
  /**
   * The same for several independent modules (a backend may batch them: no job's `out` may be
   * another job's `w0`, `u` or `d`).
   */
  mergeMany(jobs: readonly MergeJob[]): Promise<void>;
  /**
   * Where adapters/merge-terms.ts keeps LoRA deltas `s·up·down` between merges, so that a change
   * of coefficient only is a memory-bound pass, not a product (delta-cache.ts). Absent: every
   * merge is a product (same numbers).
   */
  readonly deltaCache?: DeltaCache;
  /** Whether `MergeJob.scale` is honoured (otherwise a job with a scale is an error to send). */
  readonly scaledMerge?: boolean;
  /** Frees what the backend holds (sessions, workers). The backend is unusable afterwards. */
  dispose(): Promise<void>;
}

/** FLOPs of one merge: a multiply and an add per rank term, plus the add of W0. */
export function mergeFlops(s: MergeShape): number {
  return s.out * s.in * (2 * s.rank + 1);
}

/** Throws `invalid-argument` unless the arrays have the lengths `shape` implies. */
export function checkJob(job: MergeJob): void {
  const { out: m, in: n, rank: r } = job.shape;
  const where = job.label ? `module ${job.label}: ` : '';
  for (const [dim, v] of [
    ['out', m],
    ['in', n],
    ['rank', r],
  ] as const) {
    if (!Number.isInteger(v) || v < (dim === 'rank' ? 0 : 1)) {
      throw new LorafuseError(
        'invalid-argument',
        `${where}merge shape ${dim}=${v} is not a ${dim === 'rank' ? 'non-negative' : 'positive'} integer`,
        { label: job.label, shape: { ...job.shape } },
      );
    }
  }
  const want: [string, Float32Array, number][] = [
    ['W0', job.w0, m * n],
    ['out', job.out, m * n],
    ['U', job.u, m * r],
    ['D', job.d, r * n],
  ];
  for (const [name, a, len] of want) {
    if (a.length !== len) {
      throw new LorafuseError(
        'invalid-argument',
        `${where}${name} holds ${a.length} values but the merge shape [out ${m}, in ${n}, rank ${r}] needs ${len}; ` +
          'U is [out, rank] and D is [rank, in] (flatten a conv weight to [out, in*kh*kw])',
        { label: job.label, array: name, length: a.length, expected: len, shape: { ...job.shape } },
      );
    }
  }
  if (sameMemory(job.out, job.u) || sameMemory(job.out, job.d)) {
    throw new LorafuseError(
      'invalid-argument',
      `${where}the output array overlaps U or D; give a separate output (it may be W0 itself)`,
      { label: job.label },
    );
  }
}

function sameMemory(a: Float32Array, b: Float32Array): boolean {
  if (a.buffer !== b.buffer) return false;
  const a0 = a.byteOffset;
  const b0 = b.byteOffset;
  return a0 < b0 + b.byteLength && b0 < a0 + a.byteLength;
}
