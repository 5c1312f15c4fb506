/**
 * The scalar backend: the JS oracle of `math/matmul.ts` (float64 row accumulators), then the add
 * of W0 in float32. About 0.3 GFLOP/s; the reference every fast backend is tested against.
 */
import { matmul } from '../math/matmul.ts';
import { checkJob, type MergeBackend, type MergeJob, type MergeShape } from './merge-backend.ts';

/** `out = W0 + U·D`, synchronously. */
export function mergeScalar(job: MergeJob): void {
  checkJob(job);
  const { out: m, in: n, rank: r } = job.shape;
  const { w0, out } = job;
  if (r === 0) {
    if (out !== w0) out.set(w0);
    return;
  }
  const p = matmul(job.u, job.d, m, r, n);
  if (job.scale === undefined) {
    for (let i = 0; i < p.length; i++) out[i] = w0[i]! + p[i]!;
  } else {
    // the product rounded to float32 first, as a delta merged on W0 = 0 would be (merge-backend.ts)
    const fr = Math.fround;
    const c = fr(job.scale);
    for (let i = 0; i < p.length; i++) out[i] = w0[i]! + fr(c * fr(p[i]!));
  }
}

export function createScalarBackend(): MergeBackend {
  return {
    name: 'scalar',
    scaledMerge: true,
    async mergeInto(
      w0: Float32Array,
      out: Float32Array,
      u: Float32Array,
      d: Float32Array,
      shape: MergeShape,
    ) {
      mergeScalar({ w0, out, u, d, shape });
    },
    async mergeMany(jobs: readonly MergeJob[]) {
      for (const j of jobs) mergeScalar(j);
    },
    async dispose() {},
  };
}
