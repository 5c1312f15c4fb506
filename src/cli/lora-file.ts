/**
 * Reads a LoRA safetensors file from disk: `readLoraInput` gives what conversion reads (tensors,
 * header metadata and, for a raw PEFT save, the `adapter_config.json` beside it); `readLoraFile`
 * converts it against a base model, refusing shapes that do not fit and keys that map to nothing
 * (a load that cannot apply is rejected whole, DESIGN.md decision 5).
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { readSafetensors } from '../core/io/safetensors.ts';
import type { CanonicalAdapter } from '../core/lora/adapter.ts';
import { type ConvertInput, convertLora } from '../core/lora/convert.ts';
import type { LoraTarget } from '../core/lora/target.ts';
import { validateAdapter } from '../core/lora/validate.ts';
import { refuseNonSafetensors } from '../core/pipeline/adapters/lora-source.ts';
import { LorafuseError } from '../errors.ts';

export async function readLoraInput(file: string): Promise<ConvertInput> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(file));
  } catch (e) {
    throw new LorafuseError('invalid-argument', `${file}: cannot read the file (${(e as Error).message})`, {
      file,
    });
  }
  const st = readSafetensors(bytes, file);
  const input: ConvertInput = { source: file, tensors: st, metadata: st.header.metadata };
  // A raw PEFT save keeps its alpha in adapter_config.json next to the weights.
  const configPath = join(dirname(file), 'adapter_config.json');
  const hasConfig = await stat(configPath).then(
    (s) => s.isFile(),
    () => false,
  );
  if (hasConfig) {
    try {
      const json: unknown = JSON.parse(await readFile(configPath, 'utf8'));
      if (typeof json === 'object' && json !== null) input.peftConfig = json as Record<string, unknown>;
    } catch (e) {
      throw new LorafuseError('config-invalid', `${configPath}: not valid JSON (${(e as Error).message})`, {
        file: configPath,
      });
    }
  }
  return input;
}

export async function readLoraFile(path: string, target: LoraTarget): Promise<CanonicalAdapter> {
  refuseNonSafetensors(path);
  const adapter = convertLora(await readLoraInput(path), target);
  validateAdapter(adapter, target, { strict: true });
  if (adapter.modules.length === 0) {
    throw new LorafuseError('lora-invalid', `${path}: no LoRA modules found`, { file: path });
  }
  return adapter;
}
