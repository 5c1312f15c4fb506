/**
 * `npm run bench -- NAME [options]` (or `tsx bench/run.ts NAME`): runs one bench script of this
 * folder; without a name, runs them all with their defaults.
 */
export {};

const BENCHES: Record<string, () => Promise<{ main(args: string[]): Promise<void> }>> = {
  unet: () => import('./unet.ts'),
  'merge-cpu': () => import('./merge-cpu.ts'),
  merge: () => import('./merge.ts'),
  switch: () => import('./switch.ts'),
  step: () => import('./step.ts'),
  'kernels-f16': () => import('./kernels-f16.ts'),
};

const [name, ...rest] = process.argv.slice(2);
if (name !== undefined && !BENCHES[name]) {
  console.error(`unknown bench '${name}'; available: ${Object.keys(BENCHES).join(', ')}`);
  process.exit(2);
}
for (const n of name ? [name] : Object.keys(BENCHES)) {
  await (await BENCHES[n]!()).main(rest);
}
