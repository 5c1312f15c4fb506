/**
 * Finds a SwiftShader Vulkan driver for WebGPU on machines without a GPU, and the Chromium that
 * ships with it. Used by the GPU test config (Dawn in Node) and by the e2e rig (Chromium).
 *
 * Order: the Chromium packed in npm `@sparticuz/chromium` (unpacked on first use into the OS temp
 * folder, next to `vk_swiftshader_icd.json` and `libvulkan.so.1`), then Debian's `chromium`.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface SwiftShaderEnv {
  /** The Chromium executable to drive with playwright-core. */
  chromium: string;
  /** The Vulkan ICD manifest for SwiftShader (VK_ICD_FILENAMES). */
  icd: string;
  /** A folder holding libvulkan.so.1, for LD_LIBRARY_PATH (Dawn dlopens it). */
  libDir: string;
}

const DEBIAN_CHROMIUM = '/usr/bin/chromium';
const DEBIAN_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

export async function findSwiftShader(): Promise<SwiftShaderEnv> {
  const tried: string[] = [];
  try {
    const mod = await import('@sparticuz/chromium');
    const exe = await mod.default.executablePath();
    const dir = dirname(exe);
    const icd = join(dir, 'vk_swiftshader_icd.json');
    if (existsSync(icd) && existsSync(join(dir, 'libvulkan.so.1')))
      return { chromium: exe, icd, libDir: dir };
    tried.push(`@sparticuz/chromium unpacked to ${dir} but ${icd} or libvulkan.so.1 is missing`);
  } catch (e) {
    tried.push(`@sparticuz/chromium: ${(e as Error).message}`);
  }
  if (existsSync(DEBIAN_CHROMIUM) && existsSync(DEBIAN_ICD)) {
    return { chromium: DEBIAN_CHROMIUM, icd: DEBIAN_ICD, libDir: dirname(DEBIAN_ICD) };
  }
  tried.push(`Debian chromium: ${DEBIAN_CHROMIUM} / ${DEBIAN_ICD} not found`);
  throw new Error(
    `No SwiftShader Vulkan driver found for WebGPU tests.\n  ${tried.join('\n  ')}\n` +
      'Fix: run `npm ci` (it installs @sparticuz/chromium), or `apt-get install chromium`.',
  );
}

/** Sets the environment so that child processes (Vitest workers) load Dawn on SwiftShader. */
export async function prepareSwiftShaderEnv(): Promise<SwiftShaderEnv> {
  const env = await findSwiftShader();
  process.env.VK_ICD_FILENAMES ??= env.icd;
  const ld = process.env.LD_LIBRARY_PATH;
  if (!ld?.split(':').includes(env.libDir)) {
    process.env.LD_LIBRARY_PATH = ld ? `${env.libDir}:${ld}` : env.libDir;
  }
  process.env.LORAFUSE_CHROMIUM = env.chromium;
  return env;
}
