/**
 * `npm run dev:offline`: the local fixture Hub on 127.0.0.1:5174 plus `vite` with
 * LORAFUSE_HUB_URL pointing at it, so the app runs against the fixtures with no network.
 * Ctrl+C stops both. `--hub-port N` picks another port; other arguments go to vite.
 */
import { spawn } from 'node:child_process';
import { startHubServer } from '../tests/hub-server.ts';

const args = process.argv.slice(2);
const portAt = args.indexOf('--hub-port');
const hubPort = portAt >= 0 ? Number(args.splice(portAt, 2)[1]) : 5174;

const hub = await startHubServer({ port: hubPort });
console.log(`fixture hub: ${hub.url} (repos: ${[...hub.repos.keys()].join(', ')})`);

const vite = spawn(process.execPath, ['node_modules/vite/bin/vite.js', ...args], {
  stdio: 'inherit',
  env: { ...process.env, LORAFUSE_HUB_URL: hub.url },
});

let stopping = false;
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  if (vite.exitCode === null) vite.kill('SIGTERM');
  await hub.close();
  process.exit(code);
}

vite.on('exit', (code) => void stop(code ?? 0));
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));
