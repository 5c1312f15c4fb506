/**
 * Comlink transfer handlers that keep `LorafuseError`'s class, code and details across the worker
 * boundary, whether it is thrown (comlink's `throw` handler, wrapped here) or returned as a value.
 * Both sides (worker and app) call `registerErrorTransfer()` before any message flows.
 */
import { type TransferHandler, transferHandlers } from 'comlink';
import { type ErrorDetails, LorafuseError, type SerializedError } from '../../errors.ts';

interface WireError extends SerializedError {
  /** The worker-side stack, kept for debugging. */
  stack?: string;
}

/** What a thrown LorafuseError becomes on the wire; anything else keeps comlink's own format. */
interface WireThrown {
  lorafuseError: WireError;
}

function isWireThrown(v: unknown): v is WireThrown {
  return typeof v === 'object' && v !== null && 'lorafuseError' in v;
}

/** `details` must survive structured clone; a value that cannot is replaced by a description of it. */
function cloneableDetails(details: ErrorDetails): ErrorDetails {
  const out: ErrorDetails = {};
  for (const [key, value] of Object.entries(details)) {
    try {
      out[key] = structuredClone(value);
    } catch {
      out[key] = `[not cloneable: ${Object.prototype.toString.call(value)}]`;
    }
  }
  return out;
}

function toWire(e: LorafuseError): WireError {
  const wire: WireError = { ...e.toJSON(), details: cloneableDetails(e.details) };
  if (e.stack) wire.stack = e.stack;
  return wire;
}

function fromWire(w: WireError): LorafuseError {
  const e = LorafuseError.fromJSON(w);
  if (w.stack) e.stack = w.stack;
  return e;
}

const valueHandler: TransferHandler<LorafuseError, WireError> = {
  canHandle: (v): v is LorafuseError => v instanceof LorafuseError,
  serialize: (e) => [toWire(e), []],
  deserialize: fromWire,
};

let throwHandler: TransferHandler<unknown, unknown> | undefined;

/** Installs the handlers into comlink's registry; calling it again is a no-op. */
export function registerErrorTransfer(): void {
  const base = transferHandlers.get('throw');
  if (!base) throw new LorafuseError('internal', "comlink has no 'throw' transfer handler to extend");
  if (base === throwHandler) return;
  throwHandler = {
    canHandle: (v): v is unknown => base.canHandle(v),
    serialize(thrown) {
      const value = (thrown as { value?: unknown }).value;
      if (value instanceof LorafuseError) return [{ lorafuseError: toWire(value) } satisfies WireThrown, []];
      return base.serialize(thrown);
    },
    deserialize(wire) {
      if (isWireThrown(wire)) throw fromWire(wire.lorafuseError);
      return base.deserialize(wire);
    },
  };
  transferHandlers.set('throw', throwHandler);
  transferHandlers.set('lorafuse-error', valueHandler as TransferHandler<unknown, unknown>);
}
