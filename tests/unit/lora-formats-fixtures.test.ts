/**
 * Every fixture LoRA (tests/fixtures/loras, written by diffusers or with sd-scripts naming) and
 * every LyCORIS fixture converts against its tiny base with zero unmapped keys, fits its shapes,
 * and has the format, rank, alpha and module set that the fixtures' index.json records.
 */
import { describe, expect, it } from 'vitest';
import { moduleId } from '../../src/core/lora/adapter.ts';
import { convertLora } from '../../src/core/lora/convert.ts';
import { validateAdapter } from '../../src/core/lora/validate.ts';
import { FIX, loraInput, readJson, targetFromDir } from './lora-formats-helpers.ts';

interface IndexModule {
  rank: number;
  alpha: number;
  kind: 'linear' | 'conv1x1' | 'conv3x3';
}
interface LoraIndexEntry {
  file: string;
  format: string;
  model: string;
  components: Record<string, { num_modules: number; dora: boolean; modules: Record<string, IndexModule> }>;
}

const loras = readJson<Record<string, LoraIndexEntry>>(`${FIX}/loras/index.json`);

/** The source format the fixture's writer used, read from its description in index.json. */
function expectedFormat(e: LoraIndexEntry): string {
  if (e.format.startsWith('kohya')) return 'kohya';
  if (e.format.includes('lora.down/lora.up') || e.format.includes('train_dreambooth_lora_sdxl'))
    return 'diffusers-2023';
  if (e.format.includes('lora_A/lora_B') || e.format.includes('lora_magnitude_vector')) return 'peft';
  throw new Error(`unclassified fixture format: ${e.format}`);
}

function kindOf(shape: number[]): IndexModule['kind'] {
  if (shape.length === 2) return 'linear';
  return shape[2] === 1 ? 'conv1x1' : 'conv3x3';
}

describe.each(Object.entries(loras))('fixture LoRA %s', (name, entry) => {
  const target = targetFromDir(`${FIX}/${entry.model}`);
  const adapter = convertLora(loraInput(`${FIX}/${entry.file}`), target);

  it('maps every key and fits the base', () => {
    expect(adapter.unmapped).toEqual([]);
    expect(() => validateAdapter(adapter, target, { strict: true })).not.toThrow();
    const used = adapter.modules.flatMap((m) => m.sourceKeys).length;
    expect(used).toBe(loraInput(`${FIX}/${entry.file}`).tensors.names().length);
  });

  it('has the modules, ranks, alphas and kinds of index.json', () => {
    const fmt = expectedFormat(entry);
    for (const [comp, c] of Object.entries(entry.components)) {
      const mods = adapter.modules.filter((m) => m.component === comp);
      expect(mods.length, `${name} ${comp}`).toBe(c.num_modules);
      expect(mods.map((m) => m.module).sort()).toEqual(Object.keys(c.modules).sort());
      for (const m of mods) {
        const want = c.modules[m.module] as IndexModule;
        const down = m.factors.down?.shape ?? [];
        expect({
          id: moduleId(m),
          rank: m.rank,
          alpha: m.alpha,
          kind: kindOf(down),
          format: m.format,
        }).toEqual({
          id: moduleId(m),
          rank: want.rank,
          alpha: want.alpha,
          kind: want.kind,
          format: fmt,
        });
        expect(m.kind).toBe('lora');
        expect(m.dora !== undefined).toBe(c.dora);
        if (m.dora) expect(m.dora).toMatchObject({ axis: 'out', style: 'peft' });
      }
    }
    const comps = new Set(adapter.modules.map((m) => m.component));
    expect([...comps].sort()).toEqual(Object.keys(entry.components).sort());
  });
});

interface LycorisEntry {
  file: string;
  deltas: string;
  model: string;
  kind: string;
  modules: string[];
}
const lycoris = readJson<Record<string, LycorisEntry>>(`${FIX}/lycoris/index.json`);

const KIND: Record<string, string> = {
  loha: 'loha',
  'loha-tucker': 'loha',
  lokr: 'lokr',
  full: 'full',
  'locon-tucker': 'locon-tucker',
  norm: 'norm',
  'dora-in': 'lora',
  'dora-out': 'lora',
};

describe.each(Object.entries(lycoris))('LyCORIS fixture %s', (_name, entry) => {
  const target = targetFromDir(`${FIX}/${entry.model}`);
  const adapter = convertLora(loraInput(`${FIX}/${entry.file}`), target);

  it('maps every key to the modules of index.json, with the right kind, and fits the base', () => {
    expect(adapter.unmapped).toEqual([]);
    expect(() => validateAdapter(adapter, target, { strict: true })).not.toThrow();
    const want = entry.modules.map((m) => m.split(' (')[0]).sort();
    expect(adapter.modules.map(moduleId).sort()).toEqual(want);
    for (const m of adapter.modules) expect(m.kind).toBe(KIND[entry.kind]);
    // Every module has a reference delta (the deltas file is keyed by the same module ids).
    const deltas = loraInput(`${FIX}/${entry.deltas}`).tensors.names();
    for (const m of adapter.modules) expect(deltas).toContain(`${moduleId(m)}.weight`);
  });

  it('reads format-specific parameters', () => {
    for (const m of adapter.modules) {
      if (entry.kind === 'loha-tucker')
        expect(Object.keys(m.factors).sort()).toEqual(['t1', 't2', 'w1a', 'w1b', 'w2a', 'w2b']);
      if (entry.kind === 'dora-in') expect(m.dora).toMatchObject({ axis: 'in', style: 'lycoris' });
      if (entry.kind === 'dora-out') expect(m.dora).toMatchObject({ axis: 'out', style: 'lycoris' });
      if (entry.kind !== 'dora-in' && entry.kind !== 'dora-out') expect(m.dora).toBeUndefined();
      if (entry.kind === 'full' || entry.kind === 'norm') expect(m.alpha / m.rank).toBe(1);
    }
    if (entry.kind === 'lokr') {
      // index.json marks the two-full-factor modules "(scale 1)"; the others carry alpha/rank.
      for (const desc of entry.modules) {
        const id = desc.split(' (')[0];
        const m = adapter.modules.find((x) => moduleId(x) === id);
        expect(m, id).toBeDefined();
        if (!m) continue;
        if (desc.includes('scale 1')) {
          expect(Object.keys(m.factors).sort()).toEqual(['w1', 'w2']);
          expect(m.alpha / m.rank).toBe(1);
        }
        if (desc.includes('w1_a/w1_b')) expect(m.factors.w1a).toBeDefined();
        if (desc.includes('w2_a/w2_b')) expect(m.factors.w2a).toBeDefined();
      }
    }
  });
});
