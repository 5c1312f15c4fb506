/** The engine in a worker: comlink wiring only; the implementation is src/core/engine/engine.ts. */
import * as Comlink from 'comlink';
import type { EngineApi } from '../src/api.ts';
import { registerErrorTransfer } from '../src/core/engine/comlink-errors.ts';
import { createEngine } from '../src/core/engine/engine.ts';

registerErrorTransfer();
Comlink.expose(createEngine({ transfer: Comlink.transfer }) satisfies EngineApi);
