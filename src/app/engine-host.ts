/**
 * The engine worker's life on the page: starts it, notices when it dies, starts a new one.
 *
 * Death is noticed through a Web Lock: the engine takes a lock of its own and holds it for life
 * (`holdLifeLock`); the page asks for the same lock and is granted it when the worker is gone
 * (closed, crashed, out of memory). Calls still waiting then reject with `engine-lost` instead of
 * hanging.
 */
import * as Comlink from 'comlink';
import type { EngineApi } from '../api.ts';
import { LorafuseError } from '../errors.ts';

export interface EngineHost {
  /** The current engine; calls reject with `engine-lost` once its worker is gone. */
  engine(): EngineApi;
  /** Ends the current worker (if still alive) and starts a new one; resolves to its engine. */
  restart(): EngineApi;
}

export interface EngineHostOptions {
  /** Called once per worker when it dies or fails (not for a worker ended by `restart`). */
  onLost(error: LorafuseError): void;
}

function lostError(reason: string, details: Record<string, unknown> = {}): LorafuseError {
  return new LorafuseError(
    'engine-lost',
    `The engine stopped (${reason}). Press "Restart engine": it starts a new engine and loads the model and LoRAs again; your settings stay.`,
    details,
  );
}

/** Rejects every call on `remote` that has not settled when `dead` rejects. */
function guard(remote: Comlink.Remote<EngineApi>, dead: Promise<never>): EngineApi {
  return new Proxy({} as EngineApi, {
    get(_target, prop) {
      if (typeof prop !== 'string' || prop === 'then') return undefined;
      return (...args: unknown[]) =>
        Promise.race([
          (remote as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[prop]!(...args),
          dead,
        ]);
    },
  });
}

export function createEngineHost(options: EngineHostOptions): EngineHost {
  let current: { worker: Worker; engine: EngineApi; ended: boolean } | undefined;

  const start = (): EngineApi => {
    const worker = new Worker(new URL('../../workers/diffusion.worker.ts', import.meta.url), {
      type: 'module',
      name: 'lorafuse-engine',
    });
    const self = { worker, engine: undefined as unknown as EngineApi, ended: false };
    let reject: (e: LorafuseError) => void = () => {};
    const dead = new Promise<never>((_, r) => {
      reject = r;
    });
    // Unobserved until a call races it.
    dead.catch(() => {});
    const lose = (e: LorafuseError) => {
      if (self.ended) return;
      self.ended = true;
      reject(e);
      options.onLost(e);
    };
    worker.addEventListener('error', (e) => {
      e.preventDefault();
      lose(
        lostError(`the worker failed: ${e.message || 'unknown error'}`, {
          filename: e.filename,
          line: e.lineno,
        }),
      );
    });
    worker.addEventListener('messageerror', () =>
      lose(lostError('a message from the worker could not be read')),
    );
    const remote = Comlink.wrap<EngineApi>(worker);
    self.engine = guard(remote, dead);
    const locks = globalThis.navigator?.locks;
    if (locks) {
      void remote.holdLifeLock().then(
        (name) => {
          if (name)
            void locks.request(name, () =>
              lose(lostError('the worker ended, e.g. out of memory or a crash')),
            );
        },
        () => {},
      );
    }
    current = self;
    return self.engine;
  };

  start();
  return {
    engine: () => current!.engine,
    restart() {
      if (current) {
        current.ended = true;
        current.worker.terminate();
      }
      return start();
    },
  };
}
