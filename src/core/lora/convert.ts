/**
 * Conversion: a LoRA state dict in, the canonical adapter out (DESIGN.md decision 5). Every key
 * is either part of a module or listed in `unmapped` with its reason; inputs are never mutated.
 * Broken files (a factor without its partner, ranks that disagree, a module given twice) are
 * refused with `lora-invalid` naming the file and the key. Shapes against the base model are
 * checked separately (validate.ts).
 */
import { LorafuseError } from '../../errors.ts';
import type {
  AdapterKind,
  AdapterModule,
  CanonicalAdapter,
  Component,
  DoraSpec,
  F32Tensor,
  SourceFormat,
  UnmappedKey,
} from './adapter.ts';
import { type DetectedKey, detectKey } from './detect.ts';
import { ATTN_PROC_PROJECTIONS } from './formats/attn-proc.ts';
import { kohyaIndex } from './formats/kohya-index.ts';
import {
  type PeftLoraConfig,
  parsePeftConfig,
  peftAlpha,
  peftConfigsFromMetadata,
} from './formats/peft-config.ts';
import type { Algo } from './formats/rules.ts';
import type { LoraTarget } from './target.ts';
import { refuseUnmapped } from './validate.ts';

/** What convert needs from a tensor file (a `SafetensorsFile` fits). */
export interface LoraTensors {
  names(): string[];
  info(name: string): { dtype: string; shape: number[] };
  float32(name: string): Float32Array;
}

export interface ConvertInput {
  /** File name or URL, for messages. */
  source: string;
  tensors: LoraTensors;
  /** The safetensors `__metadata__`. */
  metadata?: Record<string, string>;
  /** A raw PEFT `adapter_config.json` (parsed), for keys without a component prefix. */
  peftConfig?: Record<string, unknown>;
}

interface Resolved {
  det: DetectedKey;
  component: Component;
  path: string;
}

function invalid(
  source: string,
  key: string,
  what: string,
  details: Record<string, unknown> = {},
): LorafuseError {
  return new LorafuseError(
    'lora-invalid',
    `${source}: key '${key}': ${what}. The LoRA file is malformed; re-export it.`,
    {
      file: source,
      key,
      ...details,
    },
  );
}

/** Resolves a detected key to (component, diffusers path) in the target, or says why not. */
function resolve(det: DetectedKey, target: LoraTarget): Resolved | UnmappedKey {
  const { key, name } = det;
  if (name.kind === 'kohya') {
    const hit = kohyaIndex(target).get(name.flat);
    if (hit) return { det, component: hit.component, path: hit.path };
    if (!target.components[name.component]) {
      return {
        key,
        reason: `component ${name.component} ('${name.prefix}') is not in the base model ${target.name}`,
      };
    }
    const rest = name.flat.slice(name.prefix.length);
    if (/^(unet|text_encoder|text_encoder_2|lora_unet|lora_te\d?)_/.test(rest)) {
      return {
        key,
        reason: `doubled component prefix in '${name.flat}': '${name.prefix}' is followed by another prefix; not guessed`,
      };
    }
    return {
      key,
      reason: `no module of ${name.component} in ${target.name} is named '${name.flat}' (diffusers or LDM spelling)`,
    };
  }
  const candidates: Component[] = name.component
    ? [name.component]
    : (Object.keys(target.components) as Component[]);
  const hits: Resolved[] = [];
  for (const comp of candidates) {
    const tc = target.components[comp];
    if (!tc) continue;
    let path = name.path;
    if (name.projection !== undefined) {
      const proj = ATTN_PROC_PROJECTIONS[tc.arch][name.projection];
      if (proj === undefined) continue;
      path = `${name.path}.${proj}`;
    }
    if (tc.inventory.has(path)) hits.push({ det, component: comp, path });
  }
  const shown = name.projection !== undefined ? `${name.path}.<to_${name.projection}>` : name.path;
  if (hits.length === 1 && hits[0]) return hits[0];
  if (hits.length > 1) {
    return {
      key,
      reason: `module '${shown}' has no component prefix and exists in ${hits.map((h) => h.component).join(' and ')}: ambiguous`,
    };
  }
  if (name.component && !target.components[name.component]) {
    return { key, reason: `component ${name.component} is not in the base model ${target.name}` };
  }
  const where = name.component ?? 'any component';
  return { key, reason: `no module '${shown}' in ${where} of ${target.name}` };
}

/**
 * Where one file key lands in the target: `{ component, path }`, or `{ reason }` when it maps to
 * nothing (for golden mapping tests and reports).
 */
export function resolveKey(
  key: string,
  target: LoraTarget,
): { component: Component; path: string } | { reason: string } {
  const d = detectKey(key);
  if (!d.ok) return { reason: d.value.reason };
  const r = resolve(d.value, target);
  return 'det' in r ? { component: r.component, path: r.path } : { reason: r.reason };
}

function tensor(input: ConvertInput, key: string): F32Tensor {
  return { shape: [...input.tensors.info(key).shape], data: input.tensors.float32(key) };
}

const dims = (t: F32Tensor | undefined): number[] => t?.shape ?? [];

/** Checks a rank-carrying dimension; `what` names the dimension for the message. */
function expectDim(source: string, key: string, got: number | undefined, want: number, what: string): void {
  if (got !== want)
    throw invalid(source, key, `${what} is ${got ?? 'missing'} but the module's rank is ${want}`);
}

interface Group {
  component: Component;
  path: string;
  keys: Resolved[];
}

interface Built {
  kind: AdapterKind;
  factors: Record<string, F32Tensor>;
  rank: number;
  /** false: alpha is fixed (scale 1) whatever the file says. */
  alphaApplies: boolean;
}

/** Builds factors and rank of one module's algorithm, checking that its keys agree. */
function buildAlgo(input: ConvertInput, algo: Algo, byFactor: Map<string, Resolved>): Built {
  const src = input.source;
  const f: Record<string, F32Tensor> = {};
  for (const [name, r] of byFactor) f[name] = tensor(input, r.det.key);
  const keyOf = (name: string): string => byFactor.get(name)?.det.key ?? '';
  const anyKey = [...byFactor.values()][0]?.det.key ?? '';
  const need = (...names: string[]): void => {
    for (const n of names) {
      if (!f[n])
        throw invalid(
          src,
          anyKey,
          `the module has no '${n}' factor (its other keys: ${[...byFactor.keys()].join(', ')})`,
        );
    }
  };
  switch (algo) {
    case 'lora': {
      need('down', 'up');
      const r = dims(f.down)[0] ?? 0;
      expectDim(
        src,
        keyOf('up'),
        dims(f.up)[1],
        r,
        `up/lora_B dimension 1 (${JSON.stringify(dims(f.up))} vs down ${JSON.stringify(dims(f.down))})`,
      );
      if (f.bias)
        expectDim(
          src,
          keyOf('bias'),
          dims(f.bias)[0],
          dims(f.up)[0] ?? 0,
          'lora_B.bias length vs lora_B rows',
        );
      if (f.mid) {
        expectDim(src, keyOf('mid'), dims(f.mid)[0], r, 'lora_mid dimension 0');
        expectDim(src, keyOf('mid'), dims(f.mid)[1], r, 'lora_mid dimension 1');
        return { kind: 'locon-tucker', factors: f, rank: r, alphaApplies: true };
      }
      return { kind: 'lora', factors: f, rank: r, alphaApplies: true };
    }
    case 'loha': {
      need('w1a', 'w1b', 'w2a', 'w2b');
      const r = dims(f.w1b)[0] ?? 0;
      if (f.t1 || f.t2) {
        need('t1', 't2');
        for (const n of ['w1a', 'w2a', 'w2b', 't1', 't2'])
          expectDim(src, keyOf(n), dims(f[n])[0], r, `${n} dimension 0`);
        for (const n of ['t1', 't2']) expectDim(src, keyOf(n), dims(f[n])[1], r, `${n} dimension 1`);
      } else {
        expectDim(src, keyOf('w1a'), dims(f.w1a)[1], r, 'hada_w1_a dimension 1');
        expectDim(src, keyOf('w2b'), dims(f.w2b)[0], r, 'hada_w2_b dimension 0');
        expectDim(src, keyOf('w2a'), dims(f.w2a)[1], r, 'hada_w2_a dimension 1');
      }
      return { kind: 'loha', factors: f, rank: r, alphaApplies: true };
    }
    case 'lokr': {
      if (!f.w1) need('w1a', 'w1b');
      if (!f.w2) need('w2a', 'w2b');
      let rank = 0;
      if (!f.w1) {
        rank = dims(f.w1a)[1] ?? 0;
        expectDim(src, keyOf('w1b'), dims(f.w1b)[0], rank, 'lokr_w1_b dimension 0');
      }
      if (!f.w2) {
        const r2 = f.t2 ? (dims(f.w2a)[0] ?? 0) : (dims(f.w2b)[0] ?? 0);
        if (f.t2) {
          expectDim(src, keyOf('w2b'), dims(f.w2b)[0], r2, 'lokr_w2_b dimension 0');
          expectDim(src, keyOf('t2'), dims(f.t2)[0], r2, 'lokr_t2 dimension 0');
          expectDim(src, keyOf('t2'), dims(f.t2)[1], r2, 'lokr_t2 dimension 1');
        } else {
          expectDim(src, keyOf('w2a'), dims(f.w2a)[1], r2, 'lokr_w2_a dimension 1');
        }
        if (rank !== 0) expectDim(src, keyOf('w2a'), r2, rank, 'the rank of lokr_w2');
        rank = r2;
      }
      // Both factors full: LyCORIS forces alpha = rank, i.e. scale 1 (LORA-FORMATS.md 3.3).
      if (rank === 0) return { kind: 'lokr', factors: f, rank: 1, alphaApplies: false };
      return { kind: 'lokr', factors: f, rank, alphaApplies: true };
    }
    case 'full':
      need('diff');
      if (f.diffBias)
        expectDim(
          src,
          keyOf('diffBias'),
          dims(f.diffBias)[0],
          dims(f.diff)[0] ?? 0,
          'diff_b length vs diff rows',
        );
      return { kind: 'full', factors: f, rank: 1, alphaApplies: false };
    case 'norm':
      need('wNorm');
      if (f.bNorm)
        expectDim(src, keyOf('bNorm'), dims(f.bNorm)[0], dims(f.wNorm)[0] ?? 0, 'b_norm length vs w_norm');
      return { kind: 'norm', factors: f, rank: 1, alphaApplies: false };
  }
}

/** DoRA magnitude: PEFT `lora_magnitude_vector` is per output; kohya `dora_scale` by its shape. */
function doraSpec(input: ConvertInput, r: Resolved, target: LoraTarget): DoraSpec {
  const magnitude = tensor(input, r.det.key);
  if (r.det.format !== 'kohya' && r.det.format !== 'lycoris')
    return { magnitude, axis: 'out', style: 'peft' };
  const [a = 0, b = 0, ...rest] = magnitude.shape;
  if (magnitude.shape.length < 2 || rest.some((d) => d !== 1)) {
    throw invalid(
      input.source,
      r.det.key,
      `dora_scale has shape ${JSON.stringify(magnitude.shape)}; expected [out,1(,1,1)] or [1,in(,1,1)]`,
    );
  }
  let axis: 'out' | 'in';
  if (a > 1 && b === 1) axis = 'out';
  else if (a === 1 && b > 1) axis = 'in';
  else if (a === 1 && b === 1) {
    const base = target.components[r.component]?.inventory.get(r.path)?.weight ?? [];
    axis = base[0] === 1 ? 'out' : 'in';
  } else {
    throw invalid(
      input.source,
      r.det.key,
      `dora_scale has shape ${JSON.stringify(magnitude.shape)}; expected [out,1(,1,1)] or [1,in(,1,1)]`,
    );
  }
  return { magnitude, axis, style: 'lycoris' };
}

function alphaValue(input: ConvertInput, r: Resolved): number {
  const t = input.tensors.float32(r.det.key);
  const v = t[0];
  if (t.length !== 1 || v === undefined) {
    throw invalid(input.source, r.det.key, `alpha must hold one number, it has ${t.length}`);
  }
  return v;
}

function peftConfigFor(
  input: ConvertInput,
  comp: Component,
  fromMeta: Partial<Record<Component, PeftLoraConfig>>,
  prefixed: boolean,
): PeftLoraConfig | undefined {
  if (prefixed) return fromMeta[comp];
  return input.peftConfig ? parsePeftConfig(input.peftConfig) : undefined;
}

export interface ConvertOptions {
  /** Throw `lora-unmapped-keys` when any key maps to nothing (default: report them in `unmapped`). */
  strict?: boolean;
}

/** Converts a LoRA state dict into the canonical adapter. Lenient by default: unmapped keys are reported. */
export function convertLora(
  input: ConvertInput,
  target: LoraTarget,
  opts: ConvertOptions = {},
): CanonicalAdapter {
  const metadata = { ...(input.metadata ?? {}) };
  const peftMeta = peftConfigsFromMetadata(metadata, input.source);
  const unmapped: UnmappedKey[] = [];
  const groups = new Map<string, Group>();
  for (const key of input.tensors.names()) {
    const d = detectKey(key);
    if (!d.ok) {
      unmapped.push(d.value);
      continue;
    }
    const r = resolve(d.value, target);
    if (!('det' in r)) {
      unmapped.push(r);
      continue;
    }
    const id = `${r.component}.${r.path}`;
    const g = groups.get(id) ?? { component: r.component, path: r.path, keys: [] };
    g.keys.push(r);
    groups.set(id, g);
  }

  const modules: AdapterModule[] = [];
  for (const g of groups.values()) {
    const algos = new Map<Algo, Map<string, Resolved>>();
    let alphaKey: Resolved | undefined;
    let doraKey: Resolved | undefined;
    for (const r of g.keys) {
      const { role, factor } = r.det;
      if (role === 'alpha' || role === 'dora') {
        const prev = role === 'alpha' ? alphaKey : doraKey;
        if (prev)
          throw invalid(
            input.source,
            r.det.key,
            `module ${g.component}.${g.path} already has its ${role} from key '${prev.det.key}'`,
          );
        if (role === 'alpha') alphaKey = r;
        else doraKey = r;
        continue;
      }
      const m = algos.get(role) ?? new Map<string, Resolved>();
      const prev = m.get(factor);
      if (prev)
        throw invalid(
          input.source,
          r.det.key,
          `module ${g.component}.${g.path} is given twice (also by key '${prev.det.key}')`,
        );
      m.set(factor, r);
      algos.set(role, m);
    }
    if (algos.size === 0) {
      for (const r of [alphaKey, doraKey]) {
        if (r)
          unmapped.push({
            key: r.det.key,
            reason: `'${r.det.factor}' for ${g.component}.${g.path} without any LoRA factors for that module`,
          });
      }
      continue;
    }
    if (algos.size > 1) {
      const first = g.keys[0]?.det.key ?? '';
      throw invalid(
        input.source,
        first,
        `module ${g.component}.${g.path} mixes algorithms (${[...algos.keys()].join(', ')})`,
      );
    }
    const [algo, byFactor] = [...algos][0] as [Algo, Map<string, Resolved>];
    const built = buildAlgo(input, algo, byFactor);
    const formats = new Set<SourceFormat>([...byFactor.values()].map((r) => r.det.format));
    const format: SourceFormat = formats.has('lycoris') ? 'lycoris' : ([...formats][0] as SourceFormat);
    if (formats.size > 1 && !formats.has('lycoris')) {
      const first = g.keys[0]?.det.key ?? '';
      throw invalid(
        input.source,
        first,
        `module ${g.component}.${g.path} mixes key formats (${[...formats].join(', ')})`,
      );
    }

    let alpha = built.rank;
    if (built.alphaApplies) {
      if (alphaKey) {
        const v = alphaValue(input, alphaKey);
        alpha = v === 0 ? built.rank : v;
      } else if (
        format === 'peft' ||
        format === 'raw-peft' ||
        format === 'diffusers-2023' ||
        format === 'diffusers-attn-proc'
      ) {
        const d = [...byFactor.values()][0]?.det;
        const prefixed = d?.name.kind === 'dotted' && d.name.component !== null;
        const cfg = peftConfigFor(input, g.component, peftMeta, prefixed);
        if (cfg) alpha = peftAlpha(cfg, g.path, built.rank);
      }
    }
    const sourceKeys = g.keys.map((r) => r.det.key);
    const mod: AdapterModule = {
      component: g.component,
      module: g.path,
      kind: built.kind,
      factors: built.factors,
      alpha,
      rank: built.rank,
      format,
      sourceKeys,
    };
    if (doraKey) mod.dora = doraSpec(input, doraKey, target);
    modules.push(mod);
  }
  const adapter: CanonicalAdapter = { source: input.source, modules, unmapped, metadata };
  if (opts.strict) refuseUnmapped(adapter, target.name);
  return adapter;
}
