/** A JSON file of a model (`model_index.json`, a component's `config.json`), parsed. */
import { LorafuseError } from '../../errors.ts';
import type { ModelSource } from './hub-model-source.ts';

/** `path` of `src` parsed as JSON; text that is not JSON is `config-invalid` naming the source and file. */
export async function readModelJson(src: ModelSource, path: string): Promise<unknown> {
  const text = await src.readText(path);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new LorafuseError(
      'config-invalid',
      `${src.describe}: ${path} is not valid JSON (${(e as Error).message}).`,
      { file: path },
    );
  }
}
