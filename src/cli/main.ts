/**
 * The `lorafuse` command line. Each command lives in its own module under src/cli/commands/;
 * this file only dispatches and turns errors into one line + an exit code.
 */
import { isLorafuseError } from '../errors.ts';

export type Command = (args: string[]) => Promise<number>;

const USAGE = `usage: lorafuse <command> [options]

commands:
  inspect FILE [--base DIR_OR_REPO] [--json]   formats, modules, ranks, alphas, unmapped keys
  convert FILE --to peft|kohya --base DIR_OR_REPO -o OUT
  delta FILE --base DIR_OR_REPO [--weight W] -o OUT.safetensors
  merge A[:W] B[:W] ... --method M [--density D] [--majority-sign total|frequency]
        [--svd-rank R] [--svd-clamp Q] [--seed S] --base DIR_OR_REPO -o OUT.safetensors
  generate --model DIR_OR_REPO [--lora SOURCE[:W]]... --prompt P [--negative N] [--steps N]
        [--seed S] [--guidance G] [--scheduler euler|euler-a|ddim|dpmpp-2m|dpmpp-2m-karras|lcm]
        [--size WxH] [--schedule NAME=SPEC]... -o out.png
  run-case CASE.json [-o OUT.safetensors] [--compare]

DIR_OR_REPO: an existing local folder wins; anything else is a Hub repo id (HF_ENDPOINT, HF_TOKEN
and LORAFUSE_CACHE_DIR are honoured).

Add --debug to any command for stack traces.`;

const commands: Record<string, () => Promise<Command>> = {};

/** Registers a command lazily, so that one command's imports never slow down another. */
export function registerCommand(name: string, load: () => Promise<Command>): void {
  commands[name] = load;
}

export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  const args = argv.filter((a) => a !== '--debug');
  const [name, ...rest] = args;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(USAGE);
    return name ? 0 : 2;
  }
  await import('./commands/index.ts');
  const load = commands[name];
  if (!load) {
    console.error(`lorafuse: unknown command '${name}'\n\n${USAGE}`);
    return 2;
  }
  try {
    const run = await load();
    return await run(rest);
  } catch (e) {
    if (debug) console.error(e);
    if (isLorafuseError(e)) console.error(`lorafuse ${name}: error [${e.code}] ${oneLine(e.message)}`);
    else
      console.error(
        `lorafuse ${name}: error [internal] ${oneLine(e instanceof Error ? e.message : String(e))}`,
      );
    return 1;
  }
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ');
}
