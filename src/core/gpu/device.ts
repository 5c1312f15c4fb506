/**
 * WebGPU availability probe and device creation. `probeWebGpu` never throws (the UI shows its
 * reason); `createDevice` throws typed `LorafuseError`s and wires device loss and uncaptured
 * errors to callbacks, so a lost GPU is a visible `device-lost`, never a silent hang.
 */
import { LorafuseError } from '../../errors.ts';

export type WebGpuStatus =
  | {
      available: true;
      adapter: { vendor: string; architecture: string; device: string; description: string };
      features: string[];
      limits: Record<string, number>;
      shaderF16: boolean;
    }
  | { available: false; reason: string };

/**
 * Limits we raise to the adapter's maximum: big weights need big buffers and bindings, merge
 * kernels want the largest workgroup storage the hardware allows.
 */
export const REQUESTED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxUniformBufferBindingSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
] as const;

/** Every limit name WebGPU defines; adapters expose them as prototype getters, not own keys. */
const KNOWN_LIMITS = [
  ...REQUESTED_LIMITS,
  'maxTextureDimension1D',
  'maxTextureDimension2D',
  'maxTextureDimension3D',
  'maxTextureArrayLayers',
  'maxBindGroups',
  'maxBindGroupsPlusVertexBuffers',
  'maxBindingsPerBindGroup',
  'maxDynamicUniformBuffersPerPipelineLayout',
  'maxDynamicStorageBuffersPerPipelineLayout',
  'maxSampledTexturesPerShaderStage',
  'maxSamplersPerShaderStage',
  'maxStorageTexturesPerShaderStage',
  'maxUniformBuffersPerShaderStage',
  'minUniformBufferOffsetAlignment',
  'minStorageBufferOffsetAlignment',
  'maxVertexBuffers',
  'maxVertexAttributes',
  'maxVertexBufferArrayStride',
  'maxInterStageShaderVariables',
  'maxColorAttachments',
  'maxColorAttachmentBytesPerSample',
];

export const NO_WEBGPU_REASON =
  'WebGPU is not available here (navigator.gpu is undefined). Use Chrome or Edge 113+ on ' +
  'Windows/macOS/ChromeOS (Android: Chrome 121+), Safari 26+, or Firefox 141+ on Windows. On ' +
  'Linux, Chrome needs chrome://flags/#enable-unsafe-webgpu and #enable-vulkan. WebGPU also needs ' +
  'a secure context (https:// or http://localhost). Without it lorafuse runs on the CPU (slow).';

const NO_ADAPTER_REASON =
  'The browser supports WebGPU but returned no GPU adapter: the GPU or its driver may be ' +
  'blocklisted (see chrome://gpu), hardware acceleration may be off in the browser settings, or ' +
  'the GPU process crashed (restart the browser).';

function readLimits(limits: GPUSupportedLimits): Record<string, number> {
  const out: Record<string, number> = {};
  const source = limits as unknown as Record<string, unknown>;
  const names = new Set<string>(KNOWN_LIMITS);
  for (const name in limits) names.add(name);
  for (const name of names) {
    const v = source[name];
    if (typeof v === 'number') out[name] = v;
  }
  return out;
}

/** The status of an adapter already obtained. */
export function adapterStatus(adapter: GPUAdapter): WebGpuStatus & { available: true } {
  const info = (adapter as { info?: GPUAdapterInfo }).info;
  const features = [...adapter.features].sort();
  return {
    available: true,
    adapter: {
      vendor: info?.vendor ?? '',
      architecture: info?.architecture ?? '',
      device: info?.device ?? '',
      description: info?.description ?? '',
    },
    features,
    limits: readLimits(adapter.limits),
    shaderF16: adapter.features.has('shader-f16'),
  };
}

async function requestAdapter(gpu: GPU): Promise<{ adapter: GPUAdapter } | { reason: string }> {
  try {
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    return adapter ? { adapter } : { reason: NO_ADAPTER_REASON };
  } catch (e) {
    return { reason: `Requesting a WebGPU adapter failed: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** What WebGPU offers here (`gpu` is `navigator.gpu`). Never throws. */
export async function probeWebGpu(gpu: GPU | undefined): Promise<WebGpuStatus> {
  if (!gpu) return { available: false, reason: NO_WEBGPU_REASON };
  const got = await requestAdapter(gpu);
  if ('reason' in got) return { available: false, reason: got.reason };
  return adapterStatus(got.adapter);
}

export interface CreateDeviceOptions {
  /** Labels the device; appears in every error message Dawn/Chrome prints about it. */
  label?: string;
  /** Request `shader-f16` when the adapter has it (default true). */
  preferF16?: boolean;
  /** Called once if the device is lost for any reason other than our own `destroy()`. */
  onLost?: (error: LorafuseError) => void;
  /**
   * Called for each GPU error nobody captured with an error scope. Default: `console.error`,
   * so a validation error is never silent.
   */
  onUncapturedError?: (error: LorafuseError) => void;
}

export interface CreatedDevice {
  device: GPUDevice;
  status: WebGpuStatus & { available: true };
  /** Resolves with the `device-lost` error when the device is lost, with `null` after `destroy()`. */
  lost: Promise<LorafuseError | null>;
}

/** Turns a `GPUDeviceLostInfo` into our error, or `null` for a deliberate `destroy()`. */
export function deviceLostError(label: string, info: GPUDeviceLostInfo): LorafuseError | null {
  if (info.reason === 'destroyed') return null;
  return new LorafuseError(
    'device-lost',
    `The GPU device "${label}" was lost (${info.reason}): ${info.message || 'no message'}. ` +
      'This happens after a driver reset, a GPU timeout or memory pressure. Reload the page to ' +
      'start a new device; GPU buffers (loaded weights, merges) must be recreated.',
    { label, reason: info.reason, message: info.message },
  );
}

/** Maps an uncaptured `GPUError` to our error; its message carries the labels of the objects involved. */
export function uncapturedGpuError(label: string, error: GPUError): LorafuseError {
  const kind = error.constructor?.name ?? 'GPUError';
  if (kind === 'GPUOutOfMemoryError') {
    return new LorafuseError(
      'out-of-memory',
      `The GPU device "${label}" ran out of memory: ${error.message}. Close other GPU-heavy tabs, ` +
        'use fewer adapters or a smaller model.',
      { label, kind },
    );
  }
  return new LorafuseError('internal', `GPU error on device "${label}" (${kind}): ${error.message}`, {
    label,
    kind,
  });
}

/**
 * Creates a device with the adapter's largest buffer/binding/workgroup limits and `shader-f16`
 * when present. Throws `webgpu-unavailable` when WebGPU or an adapter is missing.
 */
export async function createDevice(
  gpu: GPU | undefined,
  options: CreateDeviceOptions = {},
): Promise<CreatedDevice> {
  const label = options.label ?? 'lorafuse';
  if (!gpu) throw new LorafuseError('webgpu-unavailable', NO_WEBGPU_REASON);
  const got = await requestAdapter(gpu);
  if ('reason' in got) throw new LorafuseError('webgpu-unavailable', got.reason);
  const { adapter } = got;
  const status = adapterStatus(adapter);

  const requiredLimits: Record<string, number> = {};
  for (const name of REQUESTED_LIMITS) {
    const v = status.limits[name];
    if (v !== undefined) requiredLimits[name] = v;
  }
  const requiredFeatures: GPUFeatureName[] = [];
  if (options.preferF16 !== false && status.shaderF16) requiredFeatures.push('shader-f16');

  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ label, requiredLimits, requiredFeatures });
  } catch (e) {
    throw new LorafuseError(
      'webgpu-unavailable',
      `The GPU adapter refused to create a device: ${e instanceof Error ? e.message : String(e)}. ` +
        'Restart the browser; if it persists, the GPU driver may be unsupported.',
      { label, requiredLimits, requiredFeatures },
      { cause: e },
    );
  }

  const lost = device.lost.then((info) => {
    const err = deviceLostError(label, info);
    if (err) options.onLost?.(err);
    return err;
  });
  const report = options.onUncapturedError ?? ((err: LorafuseError) => console.error(err.message));
  device.addEventListener('uncapturederror', (event) => {
    report(uncapturedGpuError(label, (event as GPUUncapturedErrorEvent).error));
  });

  return { device, status: { ...status, shaderF16: requiredFeatures.includes('shader-f16') }, lost };
}
