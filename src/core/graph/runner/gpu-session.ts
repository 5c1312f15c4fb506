/**
 * A 'webgpu' session whose weights live in GPUBuffers we own (DESIGN.md decision 1): every weight
 * is uploaded once from the safetensors file in the graph's dtype and bound with `setWeightBuffer`,
 * so no weight is copied per run and the adapter manager's GPU store can rebind or rewrite them.
 */
import type { SafetensorsReader } from '../../io/safetensors.ts';
import type { GraphDef } from '../dsl/builder.ts';
import { NetworkSession, type NetworkSessionOptions } from './session.ts';
import { weightBuffersFromSafetensors } from './weights.ts';

export type WebGpuSessionOptions = Extract<NetworkSessionOptions, { backend: 'webgpu' }>;

export interface GpuWeightedSession {
  session: NetworkSession;
  /** The uploaded weights by name: the caller destroys them after releasing the session. */
  buffers: Map<string, GPUBuffer>;
}

export async function gpuSessionFromSafetensors(
  def: GraphDef,
  reader: SafetensorsReader,
  options: WebGpuSessionOptions,
): Promise<GpuWeightedSession> {
  const buffers = await weightBuffersFromSafetensors(def, reader, options.device);
  try {
    const session = await NetworkSession.create(def, options);
    for (const [name, buffer] of buffers) session.setWeightBuffer(name, buffer, session.weightDtype);
    return { session, buffers };
  } catch (e) {
    for (const b of buffers.values()) b.destroy();
    throw e;
  }
}
