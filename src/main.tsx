/**
 * Entry point: starts the engine worker, wires the store's flows to it, renders the app.
 * `?hub=<url>` in the page URL points the app at another Hub endpoint for this visit (a mirror, or
 * the local fixture server of `npm run dev:offline` and the e2e tests).
 */
import * as Comlink from 'comlink';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import type { EngineApi } from './api.ts';
import { App } from './app/App.tsx';
import { ActionsProvider } from './app/actions-context.tsx';
import { startPwa } from './app/pwa.ts';
import { registerErrorTransfer } from './core/engine/comlink-errors.ts';
import { LorafuseError } from './errors.ts';
import { createActions } from './state/actions.ts';
import { getAppStore } from './state/store.ts';

registerErrorTransfer();
const worker = new Worker(new URL('../workers/diffusion.worker.ts', import.meta.url), {
  type: 'module',
  name: 'lorafuse-engine',
});
const actions = createActions(getAppStore(), Comlink.wrap<EngineApi>(worker));
worker.addEventListener('error', (e) => {
  actions.reportError(
    new LorafuseError(
      'internal',
      `The engine worker failed to start: ${e.message || 'unknown error'}. Reload the page.`,
      {
        filename: e.filename,
        line: e.lineno,
      },
    ),
  );
});

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');
createRoot(root).render(
  <StrictMode>
    <ActionsProvider actions={actions}>
      <App />
    </ActionsProvider>
  </StrictMode>,
);
void actions.start(window.location.search);
startPwa();
