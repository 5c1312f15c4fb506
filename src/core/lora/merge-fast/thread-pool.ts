/**
 * Helper threads for the `wasm-simd` backend: Node `worker_threads` or browser Web Workers, each
 * instantiating the kernel on the same shared `WebAssembly.Memory`. A run is one message; each
 * thread then takes work items (row-block ranges) from a shared atomic counter, so a descheduled
 * thread on a busy machine does not hold the others back, and answers `done`.
 */
import { LorafuseError } from '../../../errors.ts';

/**
 * One kernel run, as posted to every helper: a list of work items, each a range of row blocks of
 * one task (a merge laid out in the shared memory); an Int32 counter hands out the items.
 */
export interface KernelRun {
  /** Per task: w, up, d, ldw (byte addresses and row stride), r (rank): 5 numbers each. */
  readonly tasks: Int32Array;
  /** Per task: the factor `c` of `W0 + c·(U·D)` (1 for a plain merge). */
  readonly scales: Float32Array;
  /** Per item: task index, first block, end block: 3 numbers each. */
  readonly items: Int32Array;
  /** Byte address of the Int32 work counter (zeroed before the run). */
  readonly counter: number;
}

/**
 * The helper's source, plain JS for both hosts. It takes items until none are left, then answers
 * `done`; the main thread runs the same loop (`runItems`).
 */
const WORKER_SOURCE = `
const host = typeof self !== 'undefined' && typeof self.postMessage === 'function' && typeof require === 'undefined'
  ? { on: (f) => { self.onmessage = (e) => f(e.data); }, post: (m) => self.postMessage(m) }
  : (() => { const p = require('node:worker_threads').parentPort; return { on: (f) => p.on('message', f), post: (m) => p.postMessage(m) }; })();
let merge = null;
let memory = null;
host.on((m) => {
  try {
    if (m.type === 'init') {
      memory = m.memory;
      merge = new WebAssembly.Instance(m.module, { env: { memory } }).exports.merge;
      host.post({ type: 'ready' });
      return;
    }
    const ctl = new Int32Array(memory.buffer, m.counter, 1);
    const t = m.tasks;
    const sc = m.scales;
    const it = m.items;
    const n = it.length / 3;
    for (;;) {
      const k = Atomics.add(ctl, 0, 1);
      if (k >= n) break;
      const q = it[3 * k] * 5;
      merge(t[q], t[q + 1], t[q + 2], t[q + 3], t[q + 4], it[3 * k + 1], it[3 * k + 2], sc[it[3 * k]]);
    }
    host.post({ type: 'done' });
  } catch (e) {
    host.post({ type: 'error', message: String(e && e.message ? e.message : e) });
  }
});
`;

export type Kernel = (
  w: number,
  up: number,
  d: number,
  ldw: number,
  r: number,
  b0: number,
  b1: number,
  c: number,
) => void;

/** The calling thread's share of a run: the same item loop as the helpers. */
export function runItems(merge: Kernel, memory: WebAssembly.Memory, run: KernelRun): void {
  const ctl = new Int32Array(memory.buffer, run.counter, 1);
  const t = run.tasks;
  const sc = run.scales;
  const it = run.items;
  const n = it.length / 3;
  for (;;) {
    const k = Atomics.add(ctl, 0, 1);
    if (k >= n) return;
    const task = it[3 * k]!;
    const q = task * 5;
    merge(t[q]!, t[q + 1]!, t[q + 2]!, t[q + 3]!, t[q + 4]!, it[3 * k + 1]!, it[3 * k + 2]!, sc[task]!);
  }
}

interface Helper {
  post(msg: unknown): void;
  /** Node: keep the process alive while a run is in flight (idle helpers do not hold it). */
  hold(busy: boolean): void;
  next(): Promise<{ type: string; message?: string }>;
  terminate(): Promise<void>;
}

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

/** Wraps a message port so that replies can be awaited in order. */
function queued(
  on: (f: (m: { type: string; message?: string }) => void) => void,
): () => Promise<{ type: string; message?: string }> {
  const inbox: { type: string; message?: string }[] = [];
  const waiting: ((m: { type: string; message?: string }) => void)[] = [];
  on((m) => {
    const w = waiting.shift();
    if (w) w(m);
    else inbox.push(m);
  });
  return () => {
    const m = inbox.shift();
    return m ? Promise.resolve(m) : new Promise((resolve) => waiting.push(resolve));
  };
}

async function spawn(): Promise<Helper> {
  if (isNode()) {
    const specifier = 'node:worker_threads';
    const wt = (await import(/* @vite-ignore */ specifier)) as typeof import('node:worker_threads');
    const worker = new wt.Worker(WORKER_SOURCE, { eval: true });
    worker.unref();
    const next = queued((f) => {
      worker.on('message', f);
      worker.on('error', (e: Error) => f({ type: 'error', message: e.message }));
    });
    return {
      post: (m) => worker.postMessage(m),
      hold: (busy) => {
        if (busy) worker.ref();
        else worker.unref();
      },
      next,
      terminate: async () => {
        await worker.terminate();
      },
    };
  }
  const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' }));
  const worker = new Worker(url);
  URL.revokeObjectURL(url);
  const next = queued((f) => {
    worker.onmessage = (e: MessageEvent) => f(e.data as { type: string; message?: string });
    worker.onerror = (e: ErrorEvent) => f({ type: 'error', message: e.message });
  });
  return {
    post: (m) => worker.postMessage(m),
    hold: () => {},
    next,
    terminate: async () => worker.terminate(),
  };
}

async function expectReply(h: Helper, type: string): Promise<void> {
  const m = await h.next();
  if (m.type !== type) {
    throw new LorafuseError(
      'internal',
      `a wasm merge thread failed: ${m.message ?? m.type}. Use fewer threads (threads: 1) or the ort-wasm backend.`,
      { reply: m.type },
    );
  }
}

export class ThreadPool {
  private constructor(private readonly helpers: Helper[]) {}

  /** `count` helpers sharing `memory` and running `module`. */
  static async start(
    count: number,
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
  ): Promise<ThreadPool> {
    const helpers: Helper[] = [];
    try {
      for (let i = 0; i < count; i++) helpers.push(await spawn());
      for (const h of helpers) h.post({ type: 'init', module, memory });
      for (const h of helpers) h.hold(true);
      for (const h of helpers) await expectReply(h, 'ready');
      for (const h of helpers) h.hold(false);
    } catch (e) {
      await Promise.all(helpers.map((h) => h.terminate()));
      throw e;
    }
    return new ThreadPool(helpers);
  }

  get size(): number {
    return this.helpers.length;
  }

  /** Posts `run` to every helper; the returned promise settles when all are done. */
  dispatch(run: KernelRun): Promise<void> {
    for (const h of this.helpers) {
      h.hold(true);
      h.post({ type: 'run', ...run });
    }
    const done = Promise.all(this.helpers.map((h) => expectReply(h, 'done')));
    return done.then(
      () => this.release(),
      (e: unknown) => {
        this.release();
        throw e;
      },
    );
  }

  private release(): void {
    for (const h of this.helpers) h.hold(false);
  }

  async terminate(): Promise<void> {
    await Promise.all(this.helpers.map((h) => h.terminate()));
  }
}
