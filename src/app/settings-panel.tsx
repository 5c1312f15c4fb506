import type { BackendChoice } from '../api.ts';
import { selectHubUrl } from '../state/slices/settings.ts';
import { useAppStore } from '../state/store.ts';
import { TextField } from './text-field.tsx';

export function SettingsPanel() {
  const hubUrl = useAppStore(selectHubUrl);
  const fromQuery = useAppStore((s) => s.sessionHubUrl !== null);
  const token = useAppStore((s) => s.token);
  const rememberToken = useAppStore((s) => s.rememberToken);
  const setHubUrl = useAppStore((s) => s.setHubUrl);
  const setToken = useAppStore((s) => s.setToken);
  const setRememberToken = useAppStore((s) => s.setRememberToken);
  const backend = useAppStore((s) => s.backendChoice);
  const setBackend = useAppStore((s) => s.setBackendChoice);

  return (
    <section className="panel" aria-labelledby="settings-heading">
      <h2 id="settings-heading">Settings</h2>
      <TextField
        label="Hub URL"
        type="url"
        value={hubUrl}
        onChange={setHubUrl}
        describedBy={fromQuery ? 'hub-url-note' : undefined}
      />
      {fromQuery && (
        <p id="hub-url-note" className="note">
          From the page's <code>?hub=</code> parameter, for this visit only.
        </p>
      )}
      <TextField
        label="Hub token"
        type="password"
        value={token}
        onChange={setToken}
        placeholder="hf_…"
        describedBy="token-note"
      />
      <label className="check">
        <input type="checkbox" checked={rememberToken} onChange={(e) => setRememberToken(e.target.checked)} />
        <span>Remember token</span>
      </label>
      <p id="token-note" className="note">
        {rememberToken
          ? 'The token is saved in this browser (localStorage).'
          : 'The token stays in memory and is forgotten when you close the page.'}
      </p>
      <label className="field">
        <span>Run models on</span>
        <select value={backend} onChange={(e) => setBackend(e.target.value as BackendChoice)}>
          <option value="auto">Auto (WebGPU when possible)</option>
          <option value="webgpu">WebGPU only</option>
          <option value="wasm">CPU (wasm)</option>
        </select>
      </label>
      <p className="note">Applies to the next model load.</p>
    </section>
  );
}
