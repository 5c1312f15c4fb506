/**
 * The kind equivalences, through real files in each naming scheme: a fixture LoRA rewritten as a
 * LoHa with ones-like w2, as a LoKr with full factors (w1 = [[1]], w2 = ΔW), as a full diff, and as
 * a DoRA whose magnitude is the row norms of W + ΔW, written by the writers (kohya with SD1.x
 * diffusers names, SDXL sgm names; PEFT keys for PEFT DoRA), read back by the converter, must give
 * the Diffusers deltas of the original. Tolerance 1e-5 x max |ΔW|.
 */
import { describe, expect, it } from 'vitest';
import { baseParams } from '../../src/cli/base-model.ts';
import type { AdapterModule, CanonicalAdapter, F32Tensor } from '../../src/core/lora/adapter.ts';
import { deltaWeight } from '../../src/core/lora/merge-cpu.ts';
import { writeKohya } from '../../src/core/lora/write/kohya.ts';
import { writePeft } from '../../src/core/lora/write/peft.ts';
import { base, convertBytes, convertFile, deltas, diff, loadDeltas } from './lora-fixture-helpers.ts';

const ones = (shape: number[]): F32Tensor => ({
  shape,
  data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(1),
});
const cols = (t: F32Tensor) => t.shape.slice(1).reduce((a, b) => a * b, 1);

function asLoha(m: AdapterModule): AdapterModule {
  const up = m.factors.up!;
  const down = m.factors.down!;
  const out = up.shape[0]!;
  const factors = {
    w1a: { shape: [out, m.rank], data: up.data },
    w1b: { shape: [m.rank, cols(down)], data: down.data },
    // LyCORIS files use one rank for both pairs: ones [out,r] · (1/r) [r,in] is all ones.
    w2a: ones([out, m.rank]),
    w2b: { shape: [m.rank, cols(down)], data: ones([m.rank, cols(down)]).data.fill(1 / m.rank) },
  };
  return { ...m, kind: 'loha', factors };
}

function asLokr(m: AdapterModule, target: number[]): AdapterModule {
  const d = deltaWeight(m, undefined, 1, { targetShape: target }).weight;
  return { ...m, kind: 'lokr', factors: { w1: ones([1, 1]), w2: d }, alpha: 123 };
}

function asFull(m: AdapterModule, target: number[]): AdapterModule {
  return {
    ...m,
    kind: 'full',
    factors: { diff: deltaWeight(m, undefined, 1, { targetShape: target }).weight },
  };
}

const cases = [
  {
    lora: 'sd15-kohya',
    file: 'loras/sd15-kohya/sd15-kohya.safetensors',
    model: 'models/tiny-sd15',
    naming: 'SD1.x diffusers names',
  },
  {
    lora: 'sdxl-kohya',
    file: 'loras/sdxl-kohya/sdxl-kohya.safetensors',
    model: 'models/tiny-sdxl',
    naming: 'SDXL sgm names',
  },
];

describe('kind equivalences through written files', () => {
  for (const c of cases) {
    for (const [kind, make] of [
      ['loha with ones-like w2', (m: AdapterModule) => asLoha(m)],
      ['lokr with full factors', (m: AdapterModule, t: number[]) => asLokr(m, t)],
      ['full diff', (m: AdapterModule, t: number[]) => asFull(m, t)],
    ] as const) {
      it(`${c.lora} as ${kind} (kohya, ${c.naming})`, async () => {
        const b = await base(c.model);
        const a = convertFile(c.file, b);
        const rewritten: CanonicalAdapter = {
          ...a,
          modules: a.modules.map((m) => make(m, b.inventories[m.component]!.get(m.module)!.weight)),
        };
        const bytes = writeKohya(rewritten, { inventories: b.inventories, unet: b.unetConfig });
        const back = convertBytes(bytes, `${c.lora}-${kind}`, b);
        expect(new Set(back.modules.map((m) => m.kind))).toEqual(new Set([rewritten.modules[0]!.kind]));
        const d = diff(await deltas(back, b), loadDeltas(`deltas/${c.lora}.safetensors`));
        expect(d.keys[0]).toEqual(d.keys[1]);
        expect(d.err).toBeLessThanOrEqual(1e-5 * d.ref);
      });
    }
  }

  const doraCases = [
    { ...cases[0]!, write: 'kohya' as const, style: 'lycoris' as const },
    { ...cases[1]!, write: 'kohya' as const, style: 'lycoris' as const },
    {
      lora: 'sd15-peft-metadata',
      file: 'loras/sd15-peft-metadata/pytorch_lora_weights.safetensors',
      model: 'models/tiny-sd15',
      naming: 'PEFT keys',
      write: 'peft' as const,
      style: 'peft' as const,
    },
  ];
  for (const c of doraCases) {
    it(`${c.lora} as DoRA with magnitude = ‖W + ΔW‖ rows (${c.write}, ${c.naming})`, async () => {
      const b = await base(c.model);
      const a = convertFile(c.file, b);
      const modules: AdapterModule[] = [];
      for (const m of a.modules) {
        const params = (await baseParams(b.components[m.component]!, m.module))!;
        const dW = deltaWeight(m, params).weight.data;
        const w = params.weight.data;
        const out = params.weight.shape[0]!;
        const inner = w.length / out;
        const mag = new Float32Array(out);
        for (let o = 0; o < out; o++) {
          let s = 0;
          for (let e = o * inner; e < (o + 1) * inner; e++) s += (w[e]! + dW[e]!) ** 2;
          mag[o] = Math.sqrt(s);
        }
        modules.push({ ...m, dora: { magnitude: { shape: [out], data: mag }, axis: 'out', style: c.style } });
      }
      const dora: CanonicalAdapter = { ...a, modules };
      const bytes =
        c.write === 'peft'
          ? writePeft(dora, { inventories: b.inventories })
          : writeKohya(dora, { inventories: b.inventories, unet: b.unetConfig });
      const back = convertBytes(bytes, `${c.lora}-dora`, b);
      expect(back.modules.every((m) => m.dora?.style === c.style && m.dora.axis === 'out')).toBe(true);
      const d = diff(await deltas(back, b), loadDeltas(`deltas/${c.lora}.safetensors`));
      expect(d.keys[0]).toEqual(d.keys[1]);
      expect(d.err).toBeLessThanOrEqual(1e-5 * d.ref);
    });
  }
});
