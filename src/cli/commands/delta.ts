/**
 * `lorafuse delta FILE --base DIR [--weight W] -o OUT.safetensors`: for every module the LoRA
 * targets, the float32 change W' - W it makes at weight W (and b' - b where it changes the bias),
 * keyed `<component>.<module>.weight` / `.bias`, like tests/fixtures/deltas/.
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { type TensorToWrite, writeSafetensors } from '../../core/io/safetensors.ts';
import type { CanonicalAdapter } from '../../core/lora/adapter.ts';
import { moduleId } from '../../core/lora/adapter.ts';
import { deltaWeight } from '../../core/lora/merge-cpu.ts';
import { LorafuseError } from '../../errors.ts';
import { type BaseModel, baseParams, openBaseModel } from '../base-model.ts';
import { readLoraFile } from '../lora-file.ts';

const USAGE = 'usage: lorafuse delta FILE --base DIR_OR_REPO [--weight W] -o OUT.safetensors';

/** The delta tensors of every module of `adapter` at `weight`, in module order. */
export async function adapterDeltas(
  adapter: CanonicalAdapter,
  base: BaseModel,
  weight: number,
): Promise<TensorToWrite[]> {
  const out: TensorToWrite[] = [];
  for (const m of adapter.modules) {
    const comp = base.components[m.component];
    const entry = comp?.inventory.get(m.module);
    if (!comp || !entry) {
      throw new LorafuseError(
        'lora-unmapped-keys',
        `${adapter.source}: module ${moduleId(m)} is not in ${base.source}`,
        {
          module: moduleId(m),
        },
      );
    }
    // Only DoRA reads the base weight; the others need just the shape from the config.
    const params = m.dora ? await baseParams(comp, m.module) : undefined;
    const d = deltaWeight(m, params, weight, { targetShape: entry.weight, source: adapter.source });
    out.push({ name: `${moduleId(m)}.weight`, dtype: 'F32', shape: d.weight.shape, data: d.weight.data });
    if (d.bias)
      out.push({ name: `${moduleId(m)}.bias`, dtype: 'F32', shape: d.bias.shape, data: d.bias.data });
  }
  return out;
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      base: { type: 'string' },
      weight: { type: 'string', default: '1' },
      output: { type: 'string', short: 'o' },
    },
  });
  const [file] = positionals;
  if (!file || !values.base || !values.output || positionals.length > 1) {
    throw new LorafuseError('invalid-argument', `${USAGE}\n(one LoRA file, --base and -o are required)`);
  }
  const weight = Number(values.weight);
  if (!Number.isFinite(weight)) {
    throw new LorafuseError('invalid-argument', `--weight '${values.weight}' is not a number`, {
      weight: values.weight,
    });
  }
  const base = await openBaseModel(values.base);
  const adapter = await readLoraFile(file, base.target);
  const tensors = await adapterDeltas(adapter, base, weight);
  await writeFile(
    values.output,
    writeSafetensors(tensors, {
      semantics: `W_prime - W at weight ${weight}`,
      source: file,
      base: values.base,
    }),
  );
  console.log(
    `${values.output}: ${tensors.length} delta tensors for ${adapter.modules.length} modules at weight ${weight}`,
  );
  return 0;
}
