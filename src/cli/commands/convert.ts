/**
 * `lorafuse convert FILE --to peft|kohya --base DIR_OR_REPO -o OUT`: rewrites a LoRA in another
 * format. The base gives module names, layer shapes (Linear vs 1x1 conv) and, for SDXL, the sgm
 * block names kohya files use. The factors are copied, not recomputed.
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { writeKohya } from '../../core/lora/write/kohya.ts';
import { writePeft } from '../../core/lora/write/peft.ts';
import { LorafuseError } from '../../errors.ts';
import { openBaseModel } from '../base-model.ts';
import { readLoraFile } from '../lora-file.ts';

const USAGE = 'usage: lorafuse convert FILE --to peft|kohya --base DIR_OR_REPO -o OUT.safetensors';

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      to: { type: 'string' },
      base: { type: 'string' },
      output: { type: 'string', short: 'o' },
    },
  });
  const [file] = positionals;
  if (!file || !values.base || !values.output || positionals.length > 1) {
    throw new LorafuseError(
      'invalid-argument',
      `${USAGE}\n(one LoRA file, --to, --base and -o are required)`,
    );
  }
  if (values.to !== 'peft' && values.to !== 'kohya') {
    throw new LorafuseError('invalid-argument', `--to must be 'peft' or 'kohya', got '${values.to ?? ''}'`, {
      to: values.to,
    });
  }
  const base = await openBaseModel(values.base);
  const adapter = await readLoraFile(file, base.target);
  const bytes =
    values.to === 'peft'
      ? writePeft(adapter, { inventories: base.inventories })
      : writeKohya(adapter, { inventories: base.inventories, unet: base.unetConfig });
  await writeFile(values.output, bytes);
  console.log(`${values.output}: ${adapter.modules.length} modules written as ${values.to}`);
  return 0;
}
