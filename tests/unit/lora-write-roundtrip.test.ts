/**
 * Writers against the converter on every fixture: PEFT -> kohya -> PEFT and kohya -> PEFT -> kohya
 * give identical deltas (factors and alphas are copied, so identical means bit-identical), a
 * single conversion keeps the fixture's deltas, LyCORIS kinds survive kohya -> kohya, and our
 * kohya output of the two `*-as-kohya` sources has exactly the reference converter's keys.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readSafetensors } from '../../src/core/io/safetensors.ts';
import { writeKohya } from '../../src/core/lora/write/kohya.ts';
import { writePeft } from '../../src/core/lora/write/peft.ts';
import { base, convertBytes, convertFile, deltas, diff, FIX, loadDeltas } from './lora-fixture-helpers.ts';

const loras = JSON.parse(readFileSync(`${FIX}/loras/index.json`, 'utf8')) as Record<
  string,
  { file: string; model: string }
>;
const lycoris = JSON.parse(readFileSync(`${FIX}/lycoris/index.json`, 'utf8')) as Record<
  string,
  { file: string; deltas: string; model: string }
>;

const isKohya = (file: string) =>
  readSafetensors(new Uint8Array(readFileSync(`${FIX}/${file}`)), file)
    .names()
    .every((n) => n.startsWith('lora_'));

describe('PEFT <-> kohya round trips on the Diffusers fixtures', () => {
  for (const [name, entry] of Object.entries(loras)) {
    const order = isKohya(entry.file) ? (['peft', 'kohya'] as const) : (['kohya', 'peft'] as const);
    it(`${name}: ${isKohya(entry.file) ? 'kohya' : 'peft'} -> ${order.join(' -> ')}`, async () => {
      const b = await base(entry.model);
      const write = (to: 'peft' | 'kohya', a: ReturnType<typeof convertFile>) =>
        to === 'peft'
          ? writePeft(a, { inventories: b.inventories })
          : writeKohya(a, { inventories: b.inventories, unet: b.unetConfig });
      const a0 = convertFile(entry.file, b);
      const a1 = convertBytes(write(order[0], a0), `${name}.${order[0]}`, b);
      const a2 = convertBytes(write(order[1], a1), `${name}.${order[1]}`, b);
      const reference = loadDeltas(`deltas/${name}.safetensors`);
      // One conversion keeps Diffusers' deltas (DoRA changes semantics between styles, equal at weight 1).
      const once = diff(await deltas(a1, b), reference);
      expect(once.err).toBeLessThanOrEqual(1e-5 * once.ref);
      // There and back: identical, at weight 1 and at another weight.
      for (const w of [1, 0.37]) {
        const back = diff(await deltas(a2, b, w), await deltas(a0, b, w));
        expect(back.keys[0]).toEqual(back.keys[1]);
        expect(back.err).toBe(0);
      }
    });
  }
});

describe('kohya -> kohya on the LyCORIS fixtures', () => {
  for (const [name, entry] of Object.entries(lycoris)) {
    it(name, async () => {
      const b = await base(entry.model);
      const a0 = convertFile(entry.file, b);
      const a1 = convertBytes(
        writeKohya(a0, { inventories: b.inventories, unet: b.unetConfig }),
        `${name}.kohya`,
        b,
      );
      const d = diff(await deltas(a1, b), loadDeltas(entry.deltas));
      expect(d.keys[0]).toEqual(d.keys[1]);
      expect(d.err).toBeLessThanOrEqual(1e-5 * d.ref);
      expect(a1.modules.map((m) => m.kind)).toEqual(a0.modules.map((m) => m.kind));
    });
  }

  it('output-axis dora_scale survives kohya -> PEFT -> kohya', async () => {
    const b = await base('models/tiny-sd15');
    const a0 = convertFile('lycoris/sd15-dora-out.safetensors', b);
    const a1 = convertBytes(writePeft(a0, { inventories: b.inventories }), 'dora.peft', b);
    const a2 = convertBytes(writeKohya(a1, { inventories: b.inventories }), 'dora.kohya', b);
    const once = diff(await deltas(a1, b), loadDeltas('lycoris/sd15-dora-out.deltas.safetensors'));
    expect(once.err).toBeLessThanOrEqual(1e-5 * once.ref);
    const back = diff(await deltas(a2, b, 0.5), await deltas(a0, b, 0.5));
    expect(back.err).toBe(0);
  });
});

describe('kohya names match the reference converter', () => {
  for (const name of ['sd15-peft-metadata', 'sdxl-diffusers-trainscript']) {
    it(`${name} -> kohya has the keys and shapes of ${name}-as-kohya`, async () => {
      const entry = loras[name]!;
      const b = await base(entry.model);
      const ours = readSafetensors(
        writeKohya(convertFile(entry.file, b), { inventories: b.inventories, unet: b.unetConfig }),
        'ours',
      );
      const ref = readSafetensors(
        new Uint8Array(readFileSync(`${FIX}/${loras[`${name}-as-kohya`]!.file}`)),
        'ref',
      );
      const shapes = (f: typeof ours) => Object.fromEntries(f.names().map((n) => [n, f.info(n).shape]));
      expect(shapes(ours)).toEqual(shapes(ref));
      for (const n of ref.names()) expect(Array.from(ours.float32(n)), n).toEqual(Array.from(ref.float32(n)));
    });
  }
});
