import { describe, expect, it } from 'vitest';
import { createDevice, probeWebGpu } from '../../src/core/gpu/device.ts';
import type { LorafuseError } from '../../src/errors.ts';
import { nodeGpu } from './dawn.ts';

describe('device on Dawn', () => {
  it('probe reports the adapter, its features and limits', async () => {
    const status = await probeWebGpu(nodeGpu());
    expect(status.available).toBe(true);
    if (!status.available) return;
    expect(status.adapter.vendor).not.toBe('');
    expect(status.limits.maxBufferSize).toBeGreaterThan(0);
    expect(status.limits.maxComputeWorkgroupStorageSize).toBeGreaterThanOrEqual(16384);
    expect(status.shaderF16).toBe(status.features.includes('shader-f16'));
  });

  it("creates a device with the adapter's limits, reports uncaptured errors with labels, and a destroy is not a loss", async () => {
    const reported: LorafuseError[] = [];
    const lostCalls: LorafuseError[] = [];
    const { device, status, lost } = await createDevice(nodeGpu(), {
      label: 'device-test',
      onUncapturedError: (e) => reported.push(e),
      onLost: (e) => lostCalls.push(e),
    });
    for (const name of [
      'maxBufferSize',
      'maxStorageBufferBindingSize',
      'maxComputeWorkgroupStorageSize',
    ] as const) {
      expect(device.limits[name], name).toBe(status.limits[name]);
    }
    expect(device.features.has('shader-f16')).toBe(status.shaderF16);

    device.createBuffer({
      label: 'bad-usage-buffer',
      size: 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE,
    });
    await device.queue.onSubmittedWorkDone();
    await new Promise((r) => setTimeout(r, 50));
    expect(reported).toHaveLength(1);
    expect(reported[0]!.message).toContain('bad-usage-buffer');
    expect(reported[0]!.message).toContain('device-test');

    device.destroy();
    await expect(lost).resolves.toBeNull();
    expect(lostCalls).toEqual([]);
  });
});
