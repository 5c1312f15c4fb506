/**
 * Keeps bench/merge.ts, bench/switch.ts and bench/step.ts runnable: each bench's core function on
 * a minimal size (the tiny-sd15 fixture config, rank 2, one run). No timing assertions: only that
 * every measurement was taken, and that the figures the benches derive are what they claim.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { attentionLayers, loraLayers, median, sd15UNetConfig } from '../../bench/bench-run.ts';
import { copyBytes, cpuMergeTimes, mergeBytes, mergeFlopCount, mergeLayers } from '../../bench/merge.ts';
import { stepTimes } from '../../bench/step.ts';
import { switchTimes } from '../../bench/switch.ts';
import { parseUNetConfig } from '../../src/core/graph/config/unet-config.ts';
import { createMergeBackend } from '../../src/core/lora/merge-fast/create-backend.ts';
import { createScalarBackend } from '../../src/core/lora/merge-fast/scalar.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const TINY = join(ROOT, 'tests', 'fixtures', 'models', 'tiny-sd15', 'unet', 'config.json');
const tiny = () => parseUNetConfig(JSON.parse(readFileSync(TINY, 'utf8')), TINY);

describe('bench helpers', () => {
  it('median of odd and even counts', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('SD1.5 has 128 attention projections (the peer benchmark) and a narrower SD1.5-shaped config', () => {
    const cfg = sd15UNetConfig();
    expect(attentionLayers(cfg)).toHaveLength(128);
    expect(loraLayers(cfg).length).toBeGreaterThan(128);
    expect(sd15UNetConfig(0.2).blockOutChannels).toEqual([64, 128, 256, 256]);
  });

  it('merge figures count W0, U, D and W_eff bytes, 2 FLOPs per multiply-add', () => {
    const layers = [{ path: 'x', out: 3, in: 5, shape: [3, 5] }];
    expect(mergeFlopCount(layers, 2)).toBe(2 * 3 * 5 * 2);
    expect(mergeBytes(layers, 2)).toBe(4 * (2 * 15 + 2 * 3 + 2 * 5));
    expect(copyBytes(layers)).toBe(8 * 15);
    expect(mergeLayers(false).map((l) => `${l.out}x${l.in}`)).toEqual([
      '320x320',
      '320x768',
      '640x640',
      '640x768',
    ]);
  });
});

describe('bench core functions at minimal size', () => {
  it('merge (CPU path)', async () => {
    const t = await cpuMergeTimes(createScalarBackend(), [{ path: 'x', out: 7, in: 5, shape: [7, 5] }], 2, 1);
    expect(t).toHaveLength(1);
  });

  it('merge (GPU, through the SwiftShader re-exec of bench/run.ts)', () => {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'bench', 'run.ts'), 'merge', '--smoke'],
      {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 120_000,
      },
    );
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/GPU: .+/);
    // rank 2 x 3 adapters: total rank 6, with GPU and CPU cells filled.
    expect(r.stdout).toMatch(/\| 2 \| 3 \| 6 \| [\d.]+ m?s \|/);
  }, 120_000);

  it('switch: hotswap and setAdapters through the adapter manager', async () => {
    const cfg = tiny();
    const layers = attentionLayers(cfg);
    expect(layers.length).toBeGreaterThan(0);
    const t = await switchTimes(cfg, layers, 2, 2, 1, createScalarBackend());
    expect(t.hotswapMs).toHaveLength(1);
    expect(t.reweightMs).toHaveLength(1);
    expect(t.copyMs).toHaveLength(1);
    expect(t.weights).toBe(layers.reduce((s, l) => s + l.out * l.in, 0));
  });

  it('step: UNet steps without a schedule, and with one with and without the delta cache', async () => {
    const merge = await createMergeBackend({ kind: 'scalar' });
    try {
      const t = await stepTimes(tiny(), 8, 2, 1, merge);
      expect(t.plainMs).toHaveLength(1);
      expect(t.cached?.stepMs).toHaveLength(1);
      expect(t.cached?.setAdaptersMs).toHaveLength(1);
      expect(t.uncached.stepMs).toHaveLength(1);
      expect(t.uncached.forwardAfterChangeMs).toHaveLength(1);
      // the cached steps were coefficient-only changes served from the cache
      expect(merge.deltaCache!.stats.hits).toBeGreaterThan(0);
      expect(t.loraLayers).toBe(attentionLayers(tiny()).length);
    } finally {
      await merge.dispose();
    }
  });
});
