/**
 * Every operator the graphs use is implemented by onnxruntime-web's WebGPU backend at the opset
 * the graphs declare (a missing one would silently run on the CPU). The list is the one shipped
 * with the installed onnxruntime-web: node_modules/onnxruntime-web/docs/webgpu-operators.md.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseClipTextConfig } from '../../src/core/graph/config/clip-config.ts';
import { parseUNetConfig } from '../../src/core/graph/config/unet-config.ts';
import { parseVaeConfig } from '../../src/core/graph/config/vae-config.ts';
import type { GraphDef } from '../../src/core/graph/dsl/builder.ts';
import { buildClipTextGraph } from '../../src/core/graph/nets/clip.ts';
import { buildUNetGraph } from '../../src/core/graph/nets/unet.ts';
import { buildVaeDecoderGraph } from '../../src/core/graph/nets/vae.ts';

const FIX = 'tests/fixtures';
const json = (p: string): unknown => JSON.parse(readFileSync(`${FIX}/${p}`, 'utf8'));

/** `ai.onnx(7-12,13,14+)` -> does `opset` fall in one of the ranges? */
function coversOpset(spec: string, opset: number): boolean {
  return spec.split(',').some((r) => {
    const m = /^(\d+)(?:-(\d+)|(\+))?$/.exec(r.trim());
    if (!m) return false;
    const lo = Number(m[1]);
    if (m[3]) return opset >= lo;
    return opset >= lo && opset <= Number(m[2] ?? m[1]);
  });
}

/** Operator -> ai.onnx version ranges, from the WebGPU operator table. */
function webgpuOps(): Map<string, string> {
  const md = readFileSync('node_modules/onnxruntime-web/docs/webgpu-operators.md', 'utf8');
  const ops = new Map<string, string>();
  for (const line of md.split('\n')) {
    const m = /^\|\s*(\w+)\s*\|([^|]*)\|/.exec(line);
    const onnx = m ? /ai\.onnx\(([^)]*)\)/.exec(m[2]!) : null;
    if (m && onnx) ops.set(m[1]!, onnx[1]!);
  }
  return ops;
}

function graphs(): [string, GraphDef][] {
  const out: [string, GraphDef][] = [];
  for (const m of ['models/tiny-sd15', 'models/tiny-sdxl', 'configs/sd15', 'configs/sd2', 'configs/sdxl']) {
    out.push([`${m} unet`, buildUNetGraph(parseUNetConfig(json(`${m}/unet/config.json`)))]);
    for (const te of ['text_encoder', 'text_encoder_2']) {
      try {
        readFileSync(`${FIX}/${m}/${te}/config.json`);
      } catch {
        continue;
      }
      out.push([`${m} ${te}`, buildClipTextGraph(parseClipTextConfig(json(`${m}/${te}/config.json`)))]);
    }
  }
  out.push(['tiny-sd15 vae', buildVaeDecoderGraph(parseVaeConfig(json('models/tiny-sd15/vae/config.json')))]);
  return out;
}

describe('graphs use only WebGPU-implemented operators', () => {
  it('parses the operator table', () => {
    const ops = webgpuOps();
    expect(ops.get('MatMul')).toBeDefined();
    expect(ops.has('GroupNormalization')).toBe(false);
    expect(coversOpset('7-12,13,14+', 17)).toBe(true);
    expect(coversOpset('1-10,11-12,13-16', 17)).toBe(false);
  });

  it.each(graphs())('%s', (_name, def) => {
    const ops = webgpuOps();
    const bad = new Set<string>();
    for (const n of def.nodes) {
      const spec = n.domain === '' ? ops.get(n.opType) : undefined;
      if (!spec || !coversOpset(spec, def.opset)) bad.add(`${n.domain || 'ai.onnx'}:${n.opType}`);
    }
    expect([...bad]).toEqual([]);
  });
});
