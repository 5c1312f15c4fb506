/**
 * The `ort-wasm` backend: onnxruntime-web's wasm Gemm (MLAS, WASM SIMD, its own thread pool) on a
 * one-node graph `W = Gemm(U, D, W0)` (alpha = beta = 1) with symbolic dims, so ONE session
 * serves every module shape. A merge costs the copies of W0/U/D into the wasm heap, the GEMM,
 * ORT's copy of W out of the heap and ours into `out`. (A pre-allocated CPU output would save the
 * last copy, but ORT-web 1.30 leaves it unwritten: microsoft/onnxruntime#25786, fix #26037 open.)
 *
 * Threads: ORT reads `ort.env.wasm.numThreads` once, when its wasm runtime first starts in this
 * JS realm (Node: worker_threads; browser: Web Workers, which need a cross-origin isolated page).
 * `numThreads` given here is applied only if no wasm session exists yet; `threads` reports the
 * value ORT runs with.
 */
import * as ort from 'onnxruntime-web';
import { LorafuseError } from '../../../errors.ts';
import { attr, GraphBuilder } from '../../graph/dsl/builder.ts';
import { serializeGraph } from '../../graph/dsl/serialize.ts';
import { checkJob, type MergeBackend, type MergeJob, type MergeShape } from './merge-backend.ts';

export interface OrtWasmOptions {
  /** Wasm threads (ORT's `env.wasm.numThreads`); only effective before ORT's first wasm session. */
  numThreads?: number;
}

export interface OrtWasmBackend extends MergeBackend {
  /** The thread count ORT's wasm runtime was started with (0 means ORT's default). */
  readonly threads: number;
}

/** The merge graph: inputs U [out, rank], D [rank, in], W0 [out, in]; output W [out, in]. */
export function mergeGraphBytes(): Uint8Array {
  const g = new GraphBuilder('lora-merge');
  const u = g.input('U', 'float32', ['out', 'rank']);
  const d = g.input('D', 'float32', ['rank', 'in']);
  const w0 = g.input('W0', 'float32', ['out', 'in']);
  const w = g.node1(
    'Gemm',
    [u, d, w0],
    { dtype: 'float32', shape: ['out', 'in'] },
    { alpha: attr.float(1), beta: attr.float(1) },
  );
  g.output(w, 'W');
  return serializeGraph(g.finish());
}

let started = false;

export async function createOrtWasmBackend(opts: OrtWasmOptions = {}): Promise<OrtWasmBackend> {
  if (opts.numThreads !== undefined && !started) ort.env.wasm.numThreads = opts.numThreads;
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(mergeGraphBytes(), {
      executionProviders: ['wasm'],
      graphOptimizationLevel: 'all',
    });
  } catch (e) {
    throw new LorafuseError(
      'internal',
      `onnxruntime-web could not create the wasm merge session: ${e instanceof Error ? e.message : String(e)}`,
      {},
      { cause: e },
    );
  }
  started = true;
  let disposed = false;

  const run = async (job: MergeJob): Promise<void> => {
    checkJob(job);
    if (disposed) {
      throw new LorafuseError(
        'invalid-argument',
        'the ort-wasm merge backend was disposed; create a new one',
      );
    }
    const { out: m, in: n, rank: r } = job.shape;
    if (job.scale !== undefined && job.scale !== 1) {
      throw new LorafuseError(
        'invalid-argument',
        `${job.label ? `module ${job.label}: ` : ''}the ort-wasm merge backend has no scaled merge (scaledMerge is false); fold the scale into U`,
        { label: job.label, scale: job.scale },
      );
    }
    if (r === 0) {
      if (job.out !== job.w0) job.out.set(job.w0);
      return;
    }
    const feeds = {
      U: new ort.Tensor('float32', job.u, [m, r]),
      D: new ort.Tensor('float32', job.d, [r, n]),
      W0: new ort.Tensor('float32', job.w0, [m, n]),
    };
    try {
      const result = await session.run(feeds);
      const w = result.W;
      if (!w || !(w.data instanceof Float32Array) || w.data.length !== m * n) {
        throw new Error(`unexpected output ${w ? `${w.type} [${w.dims}]` : 'missing'}`);
      }
      job.out.set(w.data);
      w.dispose();
    } catch (e) {
      throw new LorafuseError(
        'internal',
        `${job.label ? `module ${job.label}: ` : ''}the wasm merge [${m}x${r}]·[${r}x${n}] failed in onnxruntime-web: ${
          e instanceof Error ? e.message : String(e)
        }`,
        { label: job.label, shape: { ...job.shape } },
        { cause: e },
      );
    }
  };

  return {
    name: 'ort-wasm',
    threads: ort.env.wasm.numThreads ?? 0,
    mergeInto: (w0: Float32Array, out: Float32Array, u: Float32Array, d: Float32Array, shape: MergeShape) =>
      run({ w0, out, u, d, shape }),
    async mergeMany(jobs: readonly MergeJob[]) {
      for (const j of jobs) await run(j);
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await session.release();
    },
  };
}
