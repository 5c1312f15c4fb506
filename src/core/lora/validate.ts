/**
 * Validation of a converted adapter against a base model: every module's implied weight shape
 * must equal the base's (a 1x1 conv and a linear are the same thing, LORA-FORMATS.md 6 #20), or
 * the whole load is refused with `lora-shape-mismatch` naming the module and both shapes. Strict
 * mode also refuses unmapped keys (`lora-unmapped-keys`). Nothing is ever half-applied.
 */
import { LorafuseError } from '../../errors.ts';
import type { ModuleEntry } from '../graph/config/inventory.ts';
import { type AdapterModule, type CanonicalAdapter, type F32Tensor, moduleId } from './adapter.ts';
import { numel } from './math/tensor.ts';
import type { LoraTarget } from './target.ts';

export interface ShapeMismatch {
  module: string;
  /** The weight shape the adapter implies (or the factor that disagrees). */
  loraShape: number[];
  baseShape: number[];
  what: string;
  key: string;
}

const shapeOf = (t: F32Tensor | undefined): number[] => t?.shape ?? [];
const fmt = (s: readonly number[]): string => `[${s.join(',')}]`;

/** Drops trailing 1x1 kernel dims so that [o,i,1,1] and [o,i] compare equal. */
function squeeze(shape: readonly number[]): number[] {
  return shape.length === 4 && shape[2] === 1 && shape[3] === 1 ? shape.slice(0, 2) : [...shape];
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  const x = squeeze(a);
  const y = squeeze(b);
  return x.length === y.length && x.every((d, i) => d === y[i]);
}

/** The `[out, in, kh, kw]` the module's factors imply, or null when only a flat size is known. */
function impliedShape(m: AdapterModule): number[] | null {
  const f = m.factors;
  switch (m.kind) {
    case 'lora': {
      const up = shapeOf(f.up);
      const down = shapeOf(f.down);
      const upKernel = up.slice(2);
      if (upKernel.some((d) => d !== 1)) return [...up];
      return [up[0] ?? 0, ...down.slice(1)];
    }
    case 'locon-tucker':
      return [shapeOf(f.up)[0] ?? 0, shapeOf(f.down)[1] ?? 0, ...shapeOf(f.mid).slice(2)];
    case 'loha':
      if (f.t1) return [shapeOf(f.w1a)[1] ?? 0, shapeOf(f.w1b)[1] ?? 0, ...shapeOf(f.t1).slice(2)];
      return null;
    case 'lokr': {
      const w1 = f.w1 ? shapeOf(f.w1) : [shapeOf(f.w1a)[0] ?? 0, shapeOf(f.w1b)[1] ?? 0];
      if (f.w2) {
        const w2 = shapeOf(f.w2);
        return [(w1[0] ?? 0) * (w2[0] ?? 0), (w1[1] ?? 0) * (w2[1] ?? 0), ...w2.slice(2)];
      }
      if (!f.t2 && shapeOf(f.w2b).length === 4) {
        // Conv LoKr may keep lokr_w2_b as [r, d, kh, kw].
        const w2b = shapeOf(f.w2b);
        return [(w1[0] ?? 0) * (shapeOf(f.w2a)[0] ?? 0), (w1[1] ?? 0) * (w2b[1] ?? 0), ...w2b.slice(2)];
      }
      if (f.t2) {
        return [
          (w1[0] ?? 0) * (shapeOf(f.w2a)[1] ?? 0),
          (w1[1] ?? 0) * (shapeOf(f.w2b)[1] ?? 0),
          ...shapeOf(f.t2).slice(2),
        ];
      }
      return null;
    }
    case 'full':
      return [...shapeOf(f.diff)];
    case 'norm':
      return [...shapeOf(f.wNorm)];
  }
}

/** Flat `[out, in*k*k]` view of what the module produces, for kinds stored flattened. */
function flatShape(m: AdapterModule): [number, number] | null {
  const f = m.factors;
  if (m.kind === 'loha' && !f.t1) return [shapeOf(f.w1a)[0] ?? 0, numel(shapeOf(f.w1b).slice(1))];
  if (m.kind === 'lokr' && !f.w2 && !f.t2) {
    const w1 = f.w1 ? shapeOf(f.w1) : [shapeOf(f.w1a)[0] ?? 0, shapeOf(f.w1b)[1] ?? 0];
    return [(w1[0] ?? 0) * (shapeOf(f.w2a)[0] ?? 0), (w1[1] ?? 0) * numel(shapeOf(f.w2b).slice(1))];
  }
  return null;
}

function checkModule(m: AdapterModule, base: ModuleEntry): ShapeMismatch[] {
  const id = moduleId(m);
  const key = m.sourceKeys[0] ?? '';
  const out: ShapeMismatch[] = [];
  const wanted = m.kind === 'norm' ? 'norm' : 'weight';
  if ((m.kind === 'norm') !== (base.kind === 'norm') || base.kind === 'embedding') {
    out.push({
      module: id,
      loraShape: impliedShape(m) ?? [],
      baseShape: base.weight,
      what: `a ${m.kind} adapter on a ${base.kind} layer`,
      key,
    });
    return out;
  }
  const implied = impliedShape(m);
  if (implied) {
    if (!sameShape(implied, base.weight))
      out.push({ module: id, loraShape: implied, baseShape: base.weight, what: wanted, key });
  } else {
    const flat = flatShape(m);
    const baseFlat = [base.weight[0] ?? 0, numel(base.weight.slice(1))];
    if (!flat || flat[0] !== baseFlat[0] || flat[1] !== baseFlat[1]) {
      out.push({
        module: id,
        loraShape: flat ?? [],
        baseShape: base.weight,
        what: `${wanted} (flattened [out, in*kh*kw])`,
        key,
      });
    }
  }
  const biasFactor = m.factors.bias ?? m.factors.diffBias ?? m.factors.bNorm;
  if (biasFactor) {
    if (!base.bias || !sameShape(biasFactor.shape, base.bias)) {
      out.push({ module: id, loraShape: biasFactor.shape, baseShape: base.bias ?? [], what: 'bias', key });
    }
  }
  if (m.dora) {
    const n = m.dora.axis === 'out' ? (base.weight[0] ?? 0) : (base.weight[1] ?? 0);
    if (numel(m.dora.magnitude.shape) !== n) {
      out.push({
        module: id,
        loraShape: m.dora.magnitude.shape,
        baseShape: base.weight,
        what: `DoRA magnitude (${m.dora.axis} axis)`,
        key,
      });
    }
  }
  return out;
}

/** Every shape disagreement between the adapter and the base (empty when it fits). */
export function findShapeMismatches(adapter: CanonicalAdapter, target: LoraTarget): ShapeMismatch[] {
  const out: ShapeMismatch[] = [];
  for (const m of adapter.modules) {
    const base = target.components[m.component]?.inventory.get(m.module);
    if (!base) {
      out.push({
        module: moduleId(m),
        loraShape: [],
        baseShape: [],
        what: `module missing from ${target.name}`,
        key: m.sourceKeys[0] ?? '',
      });
      continue;
    }
    out.push(...checkModule(m, base));
  }
  return out;
}

export interface ValidateOptions {
  /** Refuse unmapped keys instead of reporting them (default false: lenient). */
  strict?: boolean;
}

/** Throws `lora-shape-mismatch`, then (strict) `lora-unmapped-keys`; returns when the adapter fits. */
export function validateAdapter(
  adapter: CanonicalAdapter,
  target: LoraTarget,
  opts: ValidateOptions = {},
): void {
  const mismatches = findShapeMismatches(adapter, target);
  const first = mismatches[0];
  if (first) {
    const more = mismatches.length > 1 ? ` (and ${mismatches.length - 1} more modules)` : '';
    throw new LorafuseError(
      'lora-shape-mismatch',
      `${adapter.source}: module ${first.module} (key '${first.key}'): the LoRA's ${first.what} is ${fmt(first.loraShape)} but the base ${target.name} has ${fmt(first.baseShape)}${more}. The LoRA was made for a different base model (e.g. SDXL vs SD1.5): load it on the base it was trained for.`,
      {
        file: adapter.source,
        module: first.module,
        key: first.key,
        loraShape: first.loraShape,
        baseShape: first.baseShape,
        mismatches,
      },
    );
  }
  if (opts.strict) refuseUnmapped(adapter, target.name);
}

/** Strict loading: throws `lora-unmapped-keys` naming the file and the first key with its reason. */
export function refuseUnmapped(adapter: CanonicalAdapter, targetName: string): void {
  const u = adapter.unmapped[0];
  if (!u) return;
  const more = adapter.unmapped.length > 1 ? ` (and ${adapter.unmapped.length - 1} more)` : '';
  throw new LorafuseError(
    'lora-unmapped-keys',
    `${adapter.source}: key '${u.key}' maps to no module of ${targetName}: ${u.reason}${more}. Check that the LoRA matches the base, or load it leniently to skip these keys.`,
    { file: adapter.source, unmapped: adapter.unmapped },
  );
}

export interface NonFinite {
  module: string;
  factor: string;
  count: number;
}

/** How many NaN/Inf values `a` holds. */
export function countNonFinite(a: Float32Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) n++;
  return n;
}

/** Factors holding NaN or Inf (reported by inspect; loaders refuse with `lora-nonfinite`). */
export function findNonFinite(adapter: CanonicalAdapter): NonFinite[] {
  const out: NonFinite[] = [];
  for (const m of adapter.modules) {
    const tensors: [string, F32Tensor][] = Object.entries(m.factors);
    if (m.dora) tensors.push(['magnitude', m.dora.magnitude]);
    for (const [factor, t] of tensors) {
      const count = countNonFinite(t.data);
      if (count > 0) out.push({ module: moduleId(m), factor, count });
    }
  }
  return out;
}
