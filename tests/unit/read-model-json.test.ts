/** The one JSON reader of model files, used by the pipeline loader and the CLI's `--base`. */
import { describe, expect, it } from 'vitest';
import type { ModelSource } from '../../src/core/io/hub-model-source.ts';
import { readModelJson } from '../../src/core/io/read-model-json.ts';

const source = (files: Record<string, string>): ModelSource => ({
  describe: 'org/model@main',
  readText: async (path) => files[path] ?? '',
  readBytes: async (path) => new TextEncoder().encode(files[path] ?? ''),
  list: async () => Object.keys(files),
});

describe('readModelJson', () => {
  it('parses a JSON file of the source', async () => {
    const src = source({ 'unet/config.json': '{"in_channels": 4}' });
    expect(await readModelJson(src, 'unet/config.json')).toEqual({ in_channels: 4 });
  });

  it('text that is not JSON is config-invalid naming the source and the file', async () => {
    const src = source({ 'model_index.json': '{"_class_name": ' });
    await expect(readModelJson(src, 'model_index.json')).rejects.toMatchObject({
      code: 'config-invalid',
      message: expect.stringMatching(/^org\/model@main: model_index\.json is not valid JSON \(.+\)\.$/),
      details: { file: 'model_index.json' },
    });
  });
});
