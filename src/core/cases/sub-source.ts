/** A folder inside a `ModelSource`, as a source of its own (e.g. `models/tiny-sd15` of a fixture set). */
import { LorafuseError } from '../../errors.ts';
import type { ModelSource } from '../io/model-source.ts';

export function subSource(root: ModelSource, folder: string): ModelSource {
  const parts = folder.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) {
    throw new LorafuseError(
      'invalid-argument',
      `'${folder}' leaves the fixture set's root; give a path inside it.`,
      {
        path: folder,
      },
    );
  }
  const prefix = parts.length > 0 ? `${parts.join('/')}/` : '';
  return {
    describe: `${root.describe}/${parts.join('/')}`,
    readBytes: (path) => root.readBytes(prefix + path),
    readText: (path) => root.readText(prefix + path),
    list: async () =>
      (await root.list()).filter((p) => p.startsWith(prefix)).map((p) => p.slice(prefix.length)),
  };
}
