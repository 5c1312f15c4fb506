// Each command registers itself here with a lazy import of its module.
import { registerCommand } from '../main.ts';

registerCommand('delta', async () => (await import('./delta.ts')).run);
registerCommand('convert', async () => (await import('./convert.ts')).run);
registerCommand('inspect', async () => (await import('./inspect.ts')).run);
registerCommand('run-case', async () => (await import('./run-case.ts')).run);
registerCommand('merge', async () => (await import('./merge.ts')).run);
registerCommand('generate', async () => (await import('./generate.ts')).run);
