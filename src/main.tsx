/**
 * Entry point: starts the engine worker (app/engine-host.ts: restarted when it dies), wires the
 * store's flows to it, renders the app.
 * `?hub=<url>` in the page URL points the app at another Hub endpoint for this visit (a mirror, or
 * the local fixture server of `npm run dev:offline` and the e2e tests).
 */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app/App.tsx';
import { ActionsProvider } from './app/actions-context.tsx';
import { createEngineHost } from './app/engine-host.ts';
import { startPwa } from './app/pwa.ts';
import { registerErrorTransfer } from './core/engine/comlink-errors.ts';
import { createActions } from './state/actions.ts';
import { getAppStore } from './state/store.ts';

registerErrorTransfer();
const store = getAppStore();
const host = createEngineHost({ onLost: (e) => store.getState().showError(e) });
const actions = createActions(store, host.engine(), { restartEngine: () => host.restart() });

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
