/**
 * `npx tsx scripts/devkit.ts`: builds `.devkit/`, a self-contained kit to run the GPU benches
 * (bench/kernels-f16.ts, bench/merge.ts) on a borrowed machine that has a GPU but no Node, no npm
 * and no network. Everything it needs travels in `.devkit/` (and `.gl/`, the Vulkan loader .deb):
 *
 * - `bench.mjs`: bench/run.ts bundled by esbuild (platform node, ESM; `?raw` WGSL inlined).
 *   `webgpu` and `onnxruntime-web` stay external: they resolve to `node_modules/` next to it. At
 *   start it sets LORAFUSE_BENCH_BUNDLE (GPU children re-run the bundle, see bench/bench-run.ts)
 *   and LORAFUSE_BENCH_FIXTURES (its own copy of tests/fixtures/configs/sd15).
 * - `node.xz`: this machine's Node, stripped, xz-compressed (cached: rebuilt only when missing or
 *   older than the Node binary; about a minute).
 * - `node_modules/webgpu/`: package.json, index.js, `dist/linux-x64/dawn.node.xz` (stripped).
 * - `node_modules/onnxruntime-web/`: a stub (the bundle imports it; the benches run here never
 *   use it; using it throws, naming the kit).
 * - `lib/libstdc++.so.6.xz`: this machine's libstdc++ (dawn.node needs GLIBCXX_3.4.30), used only
 *   when the remote one is older.
 * - `run.sh`: run from the repo root on the remote machine (see its header).
 *
 * `.gl/` (downloaded here when missing): the amd64 `libvulkan1` .deb, which the remote command
 * unpacks to / before run.sh (`for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig`).
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { build, type Plugin } from 'esbuild';

const ROOT = join(import.meta.dirname, '..');
const KIT = join(ROOT, '.devkit');
const GL = join(ROOT, '.gl');
const WEBGPU = join(ROOT, 'node_modules', 'webgpu');
const LIBSTDCXX = '/usr/lib/x86_64-linux-gnu/libstdc++.so.6';

const MiB = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

/** `import text from './x.wgsl?raw'` (any `?raw`): the file's text, as Vite does. */
const rawPlugin: Plugin = {
  name: 'raw',
  setup(b) {
    b.onResolve({ filter: /\?raw$/ }, (args) => ({
      path: join(args.resolveDir, args.path.slice(0, -'?raw'.length)),
      namespace: 'raw',
    }));
    b.onLoad({ filter: /.*/, namespace: 'raw' }, (args) => ({
      contents: readFileSync(args.path, 'utf8'),
      loader: 'text',
    }));
  },
};

/** Runs first in the bundle: `require` for bundled CommonJS, and where the bundle and its fixtures are. */
const BANNER = `import { createRequire as __kitRequire } from 'node:module';
import { fileURLToPath as __kitPath } from 'node:url';
const require = __kitRequire(import.meta.url);
process.env.LORAFUSE_BENCH_BUNDLE = __kitPath(import.meta.url);
process.env.LORAFUSE_BENCH_FIXTURES ||= __kitPath(new URL('./fixtures', import.meta.url));`;

async function bundle(): Promise<void> {
  const result = await build({
    entryPoints: [join(ROOT, 'bench', 'run.ts')],
    outfile: join(KIT, 'bench.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['webgpu', 'onnxruntime-web', '@sparticuz/chromium'],
    plugins: [rawPlugin],
    banner: { js: BANNER },
    legalComments: 'none',
    logLevel: 'warning',
  });
  if (result.errors.length) throw new Error('devkit: esbuild failed');
  // The SD1.5 configs bench-run.ts reads (SD15_UNET_CONFIG), at LORAFUSE_BENCH_FIXTURES.
  cpSync(join(ROOT, 'tests', 'fixtures', 'configs', 'sd15'), join(KIT, 'fixtures', 'configs', 'sd15'), {
    recursive: true,
  });
}

/** xz of `src` into `out`, the smaller of plain -9e and the x86 BCJ filter + LZMA2 9e; returns the winner. */
function xzSmallest(src: string, out: string): string {
  const variants: [string, string[]][] = [
    ['x86+lzma2 9e', ['--x86', '--lzma2=preset=9e']],
    ['-9e', ['-9e']],
  ];
  let best: { name: string; size: number; file: string } | undefined;
  for (const [name, flags] of variants) {
    const file = `${out}.${best ? 'b' : 'a'}`;
    execFileSync('sh', ['-c', `xz -T1 -c ${flags.join(' ')} "$0" > "$1"`, src, file]);
    const size = statSync(file).size;
    console.log(`  ${relative(ROOT, out)} with ${name}: ${MiB(size)}`);
    if (!best || size < best.size) {
      if (best) rmSync(best.file);
      best = { name, size, file };
    } else rmSync(file);
  }
  execFileSync('mv', [best!.file, out]);
  return best!.name;
}

/** Stripped copy of an ELF file, compressed; skipped when `out` is newer than `src`. */
function packElf(src: string, out: string): void {
  if (existsSync(out) && statSync(out).mtimeMs > statSync(src).mtimeMs) {
    console.log(`${relative(ROOT, out)}: cached (${MiB(statSync(out).size)}), newer than ${src}`);
    return;
  }
  const tmp = join(tmpdir(), `devkit-${process.pid}-${src.split('/').pop()}`);
  execFileSync('strip', ['-o', tmp, src]);
  console.log(
    `${relative(ROOT, out)}: ${src} ${MiB(statSync(src).size)}, stripped ${MiB(statSync(tmp).size)}`,
  );
  const chosen = xzSmallest(tmp, out);
  rmSync(tmp);
  console.log(`  kept ${chosen}: ${MiB(statSync(out).size)}`);
}

function webgpuPackage(): void {
  const dir = join(KIT, 'node_modules', 'webgpu');
  mkdirSync(join(dir, 'dist', 'linux-x64'), { recursive: true });
  const pkg = JSON.parse(readFileSync(join(WEBGPU, 'package.json'), 'utf8')) as { version: string };
  writeFileSync(
    join(dir, 'package.json'),
    `${JSON.stringify({ name: 'webgpu', version: pkg.version, type: 'module', main: 'index.js' }, null, 2)}\n`,
  );
  copyFileSync(join(WEBGPU, 'index.js'), join(dir, 'index.js'));
  packElf(join(WEBGPU, 'dist', 'linux-x64', 'dawn.node'), join(dir, 'dist', 'linux-x64', 'dawn.node.xz'));
}

const ORT_STUB = `// onnxruntime-web is not in the device kit (scripts/devkit.ts): the kit's benches never use it.
const missing = (what) => {
  throw new Error(\`onnxruntime-web \${what}: not in the device kit (.devkit); run this bench from the repo with npm.\`);
};
export const env = { wasm: {}, webgpu: {} };
export class Tensor {
  constructor() { missing('Tensor'); }
}
export const InferenceSession = { create: async () => missing('InferenceSession.create') };
`;

function ortStub(): void {
  const dir = join(KIT, 'node_modules', 'onnxruntime-web');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    `${JSON.stringify({ name: 'onnxruntime-web', version: '0.0.0-devkit-stub', type: 'module', main: 'index.js' }, null, 2)}\n`,
  );
  writeFileSync(join(dir, 'index.js'), ORT_STUB);
}

/**
 * Run on the remote machine from the repo root: `bash .devkit/run.sh`. Logs go to $OUT (one per
 * step). DEVKIT_SMOKE=1: short runs (--smoke) on whatever Vulkan driver the environment names
 * (SwiftShader here). DEVKIT_STEPS picks steps (default: all, in order).
 */
const RUN_SH = `#!/bin/bash
# Device kit (built by scripts/devkit.ts): GPU benches with Dawn on this machine's Vulkan driver.
# usage, from the repo root: bash .devkit/run.sh   (logs: $OUT/<step>.log, one per step)
#   DEVKIT_SMOKE=1  short runs (--smoke) on the driver the environment names (e.g. SwiftShader)
#   DEVKIT_STEPS="env adapter kernels-f16 merge-gpu switch-gpu"  steps to run, in this order
set -u
K=$(cd "$(dirname "$0")" && pwd)
D=\${DEVKIT_DIR:-/tmp/devkit}
O=\${OUT:-/tmp/devkit-out}
mkdir -p "$D" "$O"
unxz_to() { # file.xz -> file (xz, else python3's lzma)
  if command -v xz >/dev/null; then xz -dc "$1" >"$2"
  else python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; fi
}
echo "+ unpacking the kit into $D"
cp -r "$K/bench.mjs" "$K/fixtures" "$K/node_modules" "$D/"
unxz_to "$K/node.xz" "$D/node" && chmod +x "$D/node"
unxz_to "$K/node_modules/webgpu/dist/linux-x64/dawn.node.xz" "$D/node_modules/webgpu/dist/linux-x64/dawn.node"
rm -f "$D/node_modules/webgpu/dist/linux-x64/dawn.node.xz"
# dawn.node needs GLIBCXX_3.4.30: the kit's libstdc++ when this machine's is older.
if ! grep -qa GLIBCXX_3.4.30 "$(ldconfig -p | awk '/libstdc\\+\\+\\.so\\.6 .*x86-64/ {print $NF; exit}')" 2>/dev/null; then
  mkdir -p "$D/lib"; unxz_to "$K/lib/libstdc++.so.6.xz" "$D/lib/libstdc++.so.6"
  export LD_LIBRARY_PATH="$D/lib\${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; echo "+ using the kit's libstdc++"
fi
NV=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "\${DEVKIT_SMOKE:-}" ]; then
  if [ -f $NV ]; then export VK_DRIVER_FILES=$NV
  elif ! ls /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json >/dev/null 2>&1 &&
    ldconfig -p | grep -q libGLX_nvidia.so.0; then # the driver is there but not its ICD manifest
    echo '{"file_format_version":"1.0.0","ICD":{"library_path":"libGLX_nvidia.so.0","api_version":"1.3.0"}}' >"$D/nvidia_icd.json"
    export VK_DRIVER_FILES="$D/nvidia_icd.json"
  fi
  [ -d /usr/local/nvidia/lib64 ] && export LD_LIBRARY_PATH="\${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}/usr/local/nvidia/lib64"
  echo "+ VK_DRIVER_FILES=\${VK_DRIVER_FILES:-the loader default}"
fi
SM=\${DEVKIT_SMOKE:+--smoke}
step() { # name timeout-seconds bench args...: logs to $O/name.log, returns the bench's exit status
  local n=$1 t=$2 s=$SECONDS rc; shift 2
  echo "+ [$n] timeout $t node bench.mjs $*" | tee "$O/$n.log"
  timeout -k 5 "$t" "$D/node" "$D/bench.mjs" "$@" 2>&1 | tee -a "$O/$n.log"
  rc=\${PIPESTATUS[0]}
  echo "+ [$n] exit $rc after $((SECONDS - s)) s" | tee -a "$O/$n.log"
  return $rc
}
for s in \${DEVKIT_STEPS:-env adapter kernels-f16 merge-gpu switch-gpu}; do case $s in
  env) { set -x; nvidia-smi -L; uname -a; ldd --version | head -1; "$D/node" --version
    ldd "$D/node_modules/webgpu/dist/linux-x64/dawn.node"; ls -l /usr/local/nvidia/share/vulkan/icd.d /usr/share/vulkan/icd.d /etc/vulkan/icd.d
    cat $NV; ldconfig -p | grep -i -e vulkan -e GLX_nvidia -e glvkspirv; env | grep -e ^VK_ -e ^LD_LIBRARY_PATH -e ^NVIDIA; set +x; } >"$O/env.log" 2>&1; cat "$O/env.log";;
  adapter) step adapter 60 kernels-f16 --real-gpu --info || { echo "+ no WebGPU adapter: GPU steps skipped (see env.log)"; break; };;
  kernels-f16) step kernels-f16 90 kernels-f16 --real-gpu $SM;;
  merge-gpu) step merge-gpu 150 merge --full --real-gpu --no-cpu $SM;;
  merge) step merge 240 merge --full --real-gpu $SM;;
  switch-gpu) step switch-gpu 150 switch --gpu --real-gpu --ranks 4,16,64,128 --adapters 1,3 --runs 5 $SM;;
  *) echo "unknown step $s";;
esac; done
echo "+ logs in $O: $(ls "$O" | tr '\\n' ' ')"
`;

function libvulkanDeb(): void {
  if (existsSync(GL) && readdirSync(GL).some((f) => f.startsWith('libvulkan1') && f.endsWith('.deb'))) return;
  console.log('.gl: downloading the amd64 libvulkan1 .deb');
  mkdirSync(GL, { recursive: true });
  mkdirSync('/tmp/amd64/partial', { recursive: true });
  const o = ['-oAPT::Architecture=amd64', '-oAPT::Architectures=amd64', '-oDir::State::Lists=/tmp/amd64'];
  execFileSync('apt-get', [...o, 'update'], { stdio: 'inherit' });
  execFileSync('apt-get', [...o, 'download', 'libvulkan1'], { cwd: GL, stdio: 'inherit' });
}

function sizeOf(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((s, f) => s + sizeOf(join(path, f)), 0);
}

function listing(dir: string): void {
  for (const f of readdirSync(dir, { recursive: true }) as string[]) {
    const p = join(dir, f);
    if (statSync(p).isFile()) console.log(`  ${MiB(statSync(p).size).padStart(10)}  ${relative(ROOT, p)}`);
  }
}

mkdirSync(KIT, { recursive: true });
for (const stale of ['bench.mjs', 'fixtures', 'run.sh'])
  rmSync(join(KIT, stale), { recursive: true, force: true });
await bundle();
packElf(process.execPath, join(KIT, 'node.xz'));
webgpuPackage();
ortStub();
mkdirSync(join(KIT, 'lib'), { recursive: true });
packElf(LIBSTDCXX, join(KIT, 'lib', 'libstdc++.so.6.xz'));
writeFileSync(join(KIT, 'run.sh'), RUN_SH);
chmodSync(join(KIT, 'run.sh'), 0o755);
libvulkanDeb();

console.log('.devkit:');
listing(KIT);
console.log('.gl:');
listing(GL);
const kit = sizeOf(KIT);
const gl = sizeOf(GL);
console.log(`total: .devkit ${MiB(kit)} + .gl ${MiB(gl)} = ${MiB(kit + gl)}`);
console.log(`node: ${sh(process.execPath, ['--version']).trim()} from ${dirname(process.execPath)}`);
