import { useSyncExternalStore } from 'react';
import { applyUpdate, dismissPwaNotice, getPwaState, subscribePwa } from './pwa.ts';

/** The service worker's news: a new version to reload into, ready for offline use, or why offline use is off. */
export function UpdatePrompt() {
  const { needRefresh, offlineReady, error } = useSyncExternalStore(subscribePwa, getPwaState);
  if (needRefresh) {
    return (
      <div role="status" className="note">
        A new version of lorafuse is ready.{' '}
        <button type="button" onClick={() => void applyUpdate()}>
          Reload
        </button>{' '}
        <button type="button" className="icon" aria-label="Later" onClick={dismissPwaNotice}>
          ×
        </button>
      </div>
    );
  }
  if (offlineReady) {
    return (
      <div role="status" className="note">
        lorafuse is installed for offline use: the app starts without a network, and cached models load from
        this browser.{' '}
        <button type="button" className="icon" aria-label="Dismiss" onClick={dismissPwaNotice}>
          ×
        </button>
      </div>
    );
  }
  if (error) {
    return (
      <div role="status" className="note">
        Offline use is unavailable (the service worker did not register: {error}); the app needs the network
        to start.
      </div>
    );
  }
  return null;
}
