/**
 * Reads a LoRA safetensors file from disk and converts it against a base model, refusing shapes
 * that do not fit and keys that map to nothing (a load that cannot apply is rejected whole,
 * DESIGN.md decision 5).
 */
import { readFile } from 'node:fs/promises';
import { readSafetensors } from '../core/io/safetensors.ts';
import type { CanonicalAdapter } from '../core/lora/adapter.ts';
import { convertLora } from '../core/lora/convert.ts';
import type { LoraTarget } from '../core/lora/target.ts';
import { validateAdapter } from '../core/lora/validate.ts';
import { LorafuseError } from '../errors.ts';

export async function readLoraFile(path: string, target: LoraTarget): Promise<CanonicalAdapter> {
  if (!path.endsWith('.safetensors')) {
    throw new LorafuseError(
      'pickle-refused',
      `${path}: only .safetensors LoRA files are read (pickle files can run code)`,
      {
        file: path,
      },
    );
  }
  const bytes = new Uint8Array(await readFile(path));
  const file = readSafetensors(bytes, path);
  const adapter = convertLora({ source: path, tensors: file, metadata: file.header.metadata }, target);
  validateAdapter(adapter, target, { strict: true });
  if (adapter.modules.length === 0) {
    throw new LorafuseError('lora-invalid', `${path}: no LoRA modules found`, { file: path });
  }
  return adapter;
}
