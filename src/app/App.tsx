import { EngineLost } from './engine-lost.tsx';
import { ErrorAlert } from './error-alert.tsx';
import { Gallery } from './gallery.tsx';
import { GeneratePanel } from './generate-panel.tsx';
import { LoraPanel } from './lora-panel.tsx';
import { ModelPanel } from './model-panel.tsx';
import { SettingsPanel } from './settings-panel.tsx';
import { UpdatePrompt } from './update-prompt.tsx';
import { WebGpuStatusView } from './webgpu-status.tsx';
import { XyGridPanel } from './xy-grid-panel.tsx';
import './app.css';

export function App() {
  return (
    <div className="app">
      <header className="app-header">
        <h1>lorafuse</h1>
        <WebGpuStatusView />
      </header>
      <UpdatePrompt />
      <EngineLost />
      <ErrorAlert />
      <main className="app-main">
        <div className="work-column">
          <ModelPanel />
          <LoraPanel />
          <GeneratePanel />
          <XyGridPanel />
          <Gallery />
        </div>
        <aside>
          <SettingsPanel />
        </aside>
      </main>
    </div>
  );
}
