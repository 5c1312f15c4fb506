/**
 * Hands OUR `GPUDevice` to onnxruntime-web's WebGPU backend, so that weight buffers we upload and
 * rewrite (LoRA merges) are read by ORT's kernels directly (DESIGN.md decision 1).
 *
 * onnxruntime-web 1.30's WebGPU backend (JSEP, the default `onnxruntime-web` build) ignores a device
 * assigned to `ort.env.webgpu.device`: it always calls `adapter.requestDevice()` on
 * `ort.env.webgpu.adapter` (microsoft/onnxruntime#26107; the fixes, #27596 and #32227, are not
 * released). So we give it an adapter whose `requestDevice()` resolves to our device, and expose
 * the device's own features and limits, so that ORT asks only for what the device has. We set
 * `ort.env.webgpu.device` too, for versions that honour it, and after the first session check that
 * ORT really runs on our device (`verifyOrtDevice`): a silent second device would make every
 * weight buffer invalid for ORT.
 */
import * as ort from 'onnxruntime-web';
import { LorafuseError } from '../../../errors.ts';

/** The device handed to ORT in this JS realm (ORT's backend is a process-wide singleton). */
let shared: GPUDevice | null = null;

/** An adapter-shaped object whose `requestDevice()` returns `device` (what ORT 1.30 JSEP reads). */
export function adapterFor(device: GPUDevice): GPUAdapter {
  const info = (device as { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  const adapter = {
    features: device.features,
    limits: device.limits,
    info: info ?? { vendor: '', architecture: '', device: '', description: '' },
    isFallbackAdapter: false,
    requestDevice: async () => device,
    requestAdapterInfo: async () => info,
  };
  return adapter as unknown as GPUAdapter;
}

/**
 * Makes ORT's WebGPU backend use `device`. Call before the first WebGPU session; calling again
 * with the same device is a no-op, with another device an error (ORT keeps its first device).
 */
export function shareDeviceWithOrt(device: GPUDevice): void {
  if (shared === device) return;
  if (shared) {
    throw new LorafuseError(
      'invalid-argument',
      'onnxruntime-web already runs on another GPUDevice; it cannot switch devices. Reload the page ' +
        'to start over with a new device (after a device loss, for example).',
      { label: device.label, current: shared.label },
    );
  }
  const webgpu = ort.env.webgpu as unknown as Record<string, unknown>;
  const adapter = Object.getOwnPropertyDescriptor(webgpu, 'adapter');
  if (adapter && !adapter.writable && !adapter.set) {
    // ORT freezes `adapter` (and `device`) once its WebGPU backend has started.
    throw new LorafuseError(
      'internal',
      'onnxruntime-web started its WebGPU backend on a device of its own before ours was handed to it; ' +
        'create every WebGPU session through NetworkSession.create (src/core/graph/runner/session.ts).',
      { label: device.label },
    );
  }
  webgpu.adapter = adapterFor(device);
  try {
    webgpu.device = device;
  } catch {
    // Newer builds may make `device` read-only once set; the adapter above is what 1.30 reads.
  }
  shared = device;
}

/** Throws unless ORT's WebGPU backend runs on `device` (call after a WebGPU session exists). */
export async function verifyOrtDevice(device: GPUDevice): Promise<void> {
  const used = await (ort.env.webgpu.device as unknown as Promise<GPUDevice> | GPUDevice | undefined);
  if (used !== device) {
    throw new LorafuseError(
      'internal',
      `onnxruntime-web created its own GPUDevice instead of using ours ("${device.label}"), so it cannot ` +
        'read our weight buffers. The installed onnxruntime-web handles ort.env.webgpu differently ' +
        'from 1.30; update src/core/graph/runner/ort-device.ts for it.',
      { ours: device.label, theirs: used?.label ?? null },
    );
  }
}
