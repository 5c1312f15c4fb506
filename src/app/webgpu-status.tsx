import type { EngineStatus } from '../api.ts';
import { useAppStore } from '../state/store.ts';
import { formatBytes } from './format-bytes.ts';

/** Limits that decide what fits: model size per buffer and binding, merge kernel tiling. */
const KEY_LIMITS: Array<{ name: string; bytes: boolean }> = [
  { name: 'maxBufferSize', bytes: true },
  { name: 'maxStorageBufferBindingSize', bytes: true },
  { name: 'maxComputeWorkgroupStorageSize', bytes: true },
  { name: 'maxComputeInvocationsPerWorkgroup', bytes: false },
];

export function WebGpuStatusView() {
  const status = useAppStore((s) => s.engineStatus);
  return (
    <section className="gpu-status" aria-label="WebGPU status" aria-live="polite">
      {status ? <StatusBody status={status} /> : <span className="muted">Checking WebGPU…</span>}
    </section>
  );
}

function StatusBody({ status }: { status: EngineStatus }) {
  const { webgpu } = status;
  if (!webgpu.available) {
    return (
      <>
        <span className="badge warn">CPU (wasm)</span>
        <span className="gpu-reason" title={status.backendReason}>
          WebGPU unavailable: {webgpu.reason}
        </span>
      </>
    );
  }
  const { vendor, architecture, description } = webgpu.adapter;
  return (
    <>
      <span className="badge ok">WebGPU</span>
      <span className="gpu-adapter" title={status.backendReason}>
        {[vendor, architecture].filter(Boolean).join(' · ') || 'unnamed adapter'}
        {description ? <span className="muted"> ({description})</span> : null}
      </span>
      <span className={webgpu.shaderF16 ? 'chip ok' : 'chip'}>
        shader-f16: {webgpu.shaderF16 ? 'yes' : 'no'}
      </span>
      <details className="gpu-details">
        <summary>Limits and features</summary>
        <div className="gpu-popover">
          <dl className="limits">
            {KEY_LIMITS.map(({ name, bytes }) => {
              const v = webgpu.limits[name];
              return (
                <div key={name}>
                  <dt>{name}</dt>
                  <dd>{v === undefined ? '?' : bytes ? formatBytes(v) : v}</dd>
                </div>
              );
            })}
          </dl>
          <p className="features">
            <span className="muted">Features: </span>
            {webgpu.features.length ? webgpu.features.join(', ') : 'none'}
          </p>
        </div>
      </details>
    </>
  );
}
