/**
 * How the GPU merges one module's adapter terms (pure, no GPU): each canonical module becomes a
 * product the kernels compute (LORA-FORMATS.md 3; the CPU oracle is `lora/merge-cpu.ts`):
 *
 * | kind / form        | product                                    | kernels                              |
 * |--------------------|--------------------------------------------|--------------------------------------|
 * | `lora` (all terms) | `low-rank` U diag(scale) D                 | merge-lora (one launch)              |
 * | `locon-tucker`     | `low-rank`, D = tucker(mid, down)          | tucker-core, merge-lora              |
 * | `loha`             | `hadamard` (up1·down1) ⊙ (up2·down2)       | loha                                 |
 * | `loha` Tucker      | `hadamard`, up = waᵀ, down = tucker(t, wb) | tucker-core, loha                    |
 * | `lokr`             | `kron` of dense factors, stored or rebuilt | merge-lora / tucker-core, kron-merge |
 * | `full`, `norm`     | `dense` (diff, w_norm)                     | add-delta                            |
 *
 * Every product carries the module's scale (alpha/rank, 1 for full, norm and two-full-factor
 * LoKr) times the strength; a DoRA term carries the scale only, and its `dora` step the strength
 * (`inside`, `mix`, as in `lora/math/dora.ts`). Bias deltas (a LoRA's `bias`, full's `diffBias`,
 * norm's `bNorm`) are summed here on the CPU: they are one value per output.
 * Terms at strength 0 are out of the mix (as in the oracle), DoRA included.
 */
import { LorafuseError } from '../../errors.ts';
import type { AdapterModule, DoraSpec, F32Tensor } from '../lora/adapter.ts';
import { doraCount, FLOAT32_EPS } from '../lora/math/dora.ts';
import { transpose } from '../lora/math/matmul.ts';
import { cols, factor, numel, rows, shapeMismatch } from '../lora/math/tensor.ts';
import { type AdapterTerm, moduleScale } from '../lora/merge-cpu.ts';

/** Sizes of a Tucker core contraction: core [r1, r2, kernel], wb [r2, q] (tucker-core). */
export interface TuckerShape {
  r1: number;
  r2: number;
  q: number;
  kernel: number;
}

/** The `down` [rank, cols] of a low-rank pair: stored, or rebuilt on the GPU from a Tucker core. */
export type Down =
  | { from: 'dense'; data: Float32Array }
  | { from: 'tucker'; core: Float32Array; wb: Float32Array; shape: TuckerShape };

/** `up [rows, rank] · down [rank, cols]`. */
export interface LowRank {
  rows: number;
  cols: number;
  rank: number;
  up: Float32Array;
  down: Down;
}

/** A LoKr Kronecker factor [rows, cols]: stored whole, or a low-rank pair rebuilt first. */
export type KronFactor =
  | { form: 'dense'; rows: number; cols: number; data: Float32Array }
  | { form: 'low-rank'; pair: LowRank };

/** What a term adds to the weight, flattened row-major (its element count is the weight's). */
export type Product =
  /** U diag(scale) D: one coefficient per rank column (several LoRA terms side by side). */
  | { op: 'low-rank'; pair: LowRank; scale: Float32Array }
  | { op: 'hadamard'; first: LowRank; second: LowRank; coefficient: number }
  | { op: 'kron'; w1: KronFactor; w2: KronFactor; coefficient: number }
  | { op: 'dense'; data: Float32Array; coefficient: number };

/** A weight of `outer * groups * inner` elements seen as [outer, groups, inner] (dora-norm). */
export interface DoraGroups {
  outer: number;
  groups: number;
  inner: number;
}

/** DoRA's norm and rescale of a term's delta (see dora-norm.wgsl and dora-rescale.wgsl). */
export interface DoraStep extends DoraGroups {
  magnitude: Float32Array;
  /** Strength inside the norm: the strength (PEFT) or 1 (LyCORIS). */
  inside: number;
  /** Weight of the rescaled change: 1 (PEFT) or the strength (LyCORIS). */
  mix: number;
  /** Added to each norm: 0 (PEFT) or float32 eps (LyCORIS). */
  eps: number;
}

export interface PlanTerm {
  /** For labels: the adapter module's id and kind. */
  label: string;
  product: Product;
  dora?: DoraStep;
}

export interface ModulePlan {
  /** Elements of the target weight. */
  count: number;
  terms: PlanTerm[];
  /** The summed bias delta [biasCount], or null when no term changes the bias. */
  bias: Float32Array | null;
}

export interface PlanOptions {
  /** Elements of the target bias (default: the weight's first dim). */
  biasCount?: number;
}

/** The [outer, groups, inner] view of a weight whose DoRA norm runs along `axis` (as lora/math/dora.ts). */
export function doraGroups(shape: readonly number[], axis: 'out' | 'in'): DoraGroups {
  const out = shape[0] ?? 1;
  if (axis === 'out') return { outer: 1, groups: out, inner: numel(shape.slice(1)) };
  return { outer: out, groups: shape.length >= 2 ? shape[1]! : 1, inner: numel(shape.slice(2)) };
}

/** The DoRA parameters of a style at a strength (lora/math/dora.ts). */
export function doraStyle(
  style: DoraSpec['style'],
  strength: number,
): Pick<DoraStep, 'inside' | 'mix' | 'eps'> {
  return style === 'peft'
    ? { inside: strength, mix: 1, eps: 0 }
    : { inside: 1, mix: strength, eps: FLOAT32_EPS };
}

function ownerLabel(m: AdapterModule): string {
  return `${m.component}.${m.module}(${m.kind})`;
}

/** `a · b` as a low-rank pair, a [rows, r] and b [r, ...]. */
function pairOf(m: AdapterModule, aName: string, bName: string): LowRank {
  const a = factor(m, aName);
  const b = factor(m, bName);
  if (cols(a) !== rows(b)) {
    throw shapeMismatch(m, `${aName} [${a.shape}] · ${bName} [${b.shape}]: inner dimensions differ`, {
      [aName]: a.shape,
      [bName]: b.shape,
    });
  }
  return { rows: rows(a), cols: cols(b), rank: rows(b), up: a.data, down: { from: 'dense', data: b.data } };
}

/**
 * The Tucker rebuild K[p, (q, k)] = Σ_{i,j} t[i,j,k] wa[i,p] wb[j,q] as a low-rank pair:
 * up = waᵀ [p, r1], down = tucker-core(t, wb) [r1, q*k].
 */
function tuckerPair(m: AdapterModule, tName: string, wa: F32Tensor, wb: F32Tensor, names: string): LowRank {
  const t = factor(m, tName);
  const [r1 = 0, r2 = 0] = t.shape;
  if (t.shape.length < 2 || rows(wa) !== r1 || rows(wb) !== r2) {
    throw shapeMismatch(
      m,
      `${names}: tucker core [${t.shape}] does not fit factors [${wa.shape}] and [${wb.shape}]`,
      {
        [tName]: t.shape,
      },
    );
  }
  const p = cols(wa);
  const q = cols(wb);
  const kernel = numel(t.shape.slice(2));
  return {
    rows: p,
    cols: q * kernel,
    rank: r1,
    up: transpose(wa.data, r1, p),
    down: { from: 'tucker', core: t.data, wb: wb.data, shape: { r1, r2, q, kernel } },
  };
}

function lohaPair(m: AdapterModule, n: 1 | 2): LowRank {
  const a = `w${n}a`;
  const b = `w${n}b`;
  const t = `t${n}`;
  if (m.factors[t]) return tuckerPair(m, t, factor(m, a), factor(m, b), `${t}/${a}/${b}`);
  return pairOf(m, a, b);
}

function kronFactor(m: AdapterModule, n: 1 | 2): KronFactor {
  const whole = m.factors[`w${n}`];
  if (whole) return { form: 'dense', rows: rows(whole), cols: cols(whole), data: whole.data };
  if (n === 2 && m.factors.t2) {
    return { form: 'low-rank', pair: tuckerPair(m, 't2', factor(m, 'w2a'), factor(m, 'w2b'), 't2/w2a/w2b') };
  }
  return { form: 'low-rank', pair: pairOf(m, `w${n}a`, `w${n}b`) };
}

const kronRows = (f: KronFactor) => (f.form === 'dense' ? f.rows : f.pair.rows);
const kronCols = (f: KronFactor) => (f.form === 'dense' ? f.cols : f.pair.cols);

/** A plain LoRA term's pair (its bias aside), checked as `loraProduct` checks it. */
function loraPair(m: AdapterModule): LowRank {
  const down = factor(m, 'down');
  const up = factor(m, 'up');
  const r = rows(down);
  if (up.shape.length < 2 || up.shape[1] !== r || numel(up.shape.slice(2)) !== 1) {
    throw shapeMismatch(
      m,
      `up [${up.shape}] does not fit down [${down.shape}]: expected up [out, ${r}(,1,1)]`,
      {
        up: up.shape,
        down: down.shape,
      },
    );
  }
  return { rows: rows(up), cols: cols(down), rank: r, up: up.data, down: { from: 'dense', data: down.data } };
}

function loconTuckerPair(m: AdapterModule): LowRank {
  const down = factor(m, 'down');
  const mid = factor(m, 'mid');
  const up = factor(m, 'up');
  const ru = cols(up);
  const rd = rows(down);
  if (numel(down.shape.slice(2)) !== 1 || mid.shape[0] !== ru || mid.shape[1] !== rd) {
    throw shapeMismatch(
      m,
      `lora_mid [${mid.shape}] does not fit up [${up.shape}] and down [${down.shape}]: expected mid [${ru}, ${rd}, kh, kw] and a 1x1 down`,
      { up: up.shape, mid: mid.shape, down: down.shape },
    );
  }
  const q = down.shape[1] ?? 1;
  const kernel = numel(mid.shape.slice(2));
  return {
    rows: rows(up),
    cols: q * kernel,
    rank: ru,
    up: up.data,
    down: { from: 'tucker', core: mid.data, wb: down.data, shape: { r1: ru, r2: rd, q, kernel } },
  };
}

/** The term's product with coefficient `c` (strength x scale), and its element count. */
function productOf(m: AdapterModule, c: number): { product: Product; count: number } {
  switch (m.kind) {
    case 'lora':
    case 'locon-tucker': {
      const pair = m.kind === 'lora' ? loraPair(m) : loconTuckerPair(m);
      return {
        product: { op: 'low-rank', pair, scale: new Float32Array(pair.rank).fill(c) },
        count: pair.rows * pair.cols,
      };
    }
    case 'loha': {
      const first = lohaPair(m, 1);
      const second = lohaPair(m, 2);
      if (first.rows !== second.rows || first.cols !== second.cols) {
        throw shapeMismatch(
          m,
          `the two Hadamard terms differ in shape: [${first.rows}, ${first.cols}] vs [${second.rows}, ${second.cols}]`,
          {},
        );
      }
      return { product: { op: 'hadamard', first, second, coefficient: c }, count: first.rows * first.cols };
    }
    case 'lokr': {
      const w1 = kronFactor(m, 1);
      const w2 = kronFactor(m, 2);
      return {
        product: { op: 'kron', w1, w2, coefficient: c },
        count: kronRows(w1) * kronCols(w1) * kronRows(w2) * kronCols(w2),
      };
    }
    case 'full':
    case 'norm': {
      const t = factor(m, m.kind === 'full' ? 'diff' : 'wNorm');
      return { product: { op: 'dense', data: t.data, coefficient: c }, count: t.data.length };
    }
    default:
      throw new LorafuseError('not-implemented', `module ${ownerLabel(m)}: unknown adapter kind`, {
        kind: m.kind,
      });
  }
}

function biasOf(m: AdapterModule): F32Tensor | undefined {
  if (m.kind === 'lora') return m.factors.bias;
  if (m.kind === 'full') return m.factors.diffBias;
  if (m.kind === 'norm') return m.factors.bNorm;
  return undefined;
}

/** Plain LoRA terms of the same row count become one `low-rank` product (one merge-lora launch). */
function joinLowRank(terms: readonly PlanTerm[]): PlanTerm {
  if (terms.length === 1) return terms[0]!;
  const pairs = terms.map((t) => (t.product as Extract<Product, { op: 'low-rank' }>).pair);
  const { rows: out, cols: n } = pairs[0]!;
  const rank = pairs.reduce((s, p) => s + p.rank, 0);
  const up = new Float32Array(out * rank);
  const down = new Float32Array(rank * n);
  const scale = new Float32Array(rank);
  let r0 = 0;
  for (const [i, p] of pairs.entries()) {
    for (let o = 0; o < out; o++) up.set(p.up.subarray(o * p.rank, (o + 1) * p.rank), o * rank + r0);
    down.set((p.down as Extract<Down, { from: 'dense' }>).data, r0 * n);
    scale.set((terms[i]!.product as Extract<Product, { op: 'low-rank' }>).scale, r0);
    r0 += p.rank;
  }
  return {
    label: terms.map((t) => t.label).join('+'),
    product: {
      op: 'low-rank',
      pair: { rows: out, cols: n, rank, up, down: { from: 'dense', data: down } },
      scale,
    },
  };
}

/**
 * The plan for merging `terms` into a weight of `targetShape`. Throws the oracle's errors
 * (`lora-shape-mismatch`, `lora-invalid`, `lora-nonfinite` for a non-finite alpha) naming the module.
 */
export function planModuleMerge(
  terms: readonly AdapterTerm[],
  targetShape: readonly number[],
  opts: PlanOptions = {},
): ModulePlan {
  const count = numel(targetShape);
  const biasCount = opts.biasCount ?? targetShape[0] ?? 1;
  const plain: PlanTerm[] = [];
  const others: PlanTerm[] = [];
  let bias: Float64Array | null = null;
  for (const { module: m, coefficient } of terms) {
    const scale = moduleScale(m);
    const label = ownerLabel(m);
    const { product, count: n } = productOf(m, m.dora ? scale : scale * coefficient);
    if (n !== count) {
      throw shapeMismatch(
        m,
        `its delta has ${n} values but the target weight is [${targetShape}] (${count} values); the LoRA was made for another model`,
        { target: [...targetShape] },
      );
    }
    if (coefficient === 0) continue;
    const b = biasOf(m);
    if (b) {
      if (b.data.length !== biasCount) {
        throw shapeMismatch(m, `bias delta [${b.shape}] does not fit the target bias (${biasCount} values)`, {
          bias: b.shape,
          target: biasCount,
        });
      }
      bias ??= new Float64Array(biasCount);
      for (let i = 0; i < biasCount; i++) bias[i]! += scale * coefficient * b.data[i]!;
    }
    if (m.dora) {
      const groups = doraGroups(targetShape, m.dora.axis);
      const want = doraCount(targetShape, m.dora.axis);
      if (m.dora.magnitude.data.length !== want) {
        throw shapeMismatch(
          m,
          `DoRA magnitude [${m.dora.magnitude.shape}] should hold ${want} values (one per ${m.dora.axis === 'out' ? 'output row' : 'input column'} of [${targetShape}])`,
          { magnitude: m.dora.magnitude.shape, target: [...targetShape] },
        );
      }
      const dora = { ...groups, magnitude: m.dora.magnitude.data, ...doraStyle(m.dora.style, coefficient) };
      others.push({ label, product, dora });
    } else if (m.kind === 'lora' && product.op === 'low-rank') {
      plain.push({ label, product });
    } else {
      others.push({ label, product });
    }
  }
  const byRows = new Map<number, PlanTerm[]>();
  for (const t of plain) {
    const r = (t.product as Extract<Product, { op: 'low-rank' }>).pair.rows;
    byRows.set(r, [...(byRows.get(r) ?? []), t]);
  }
  return {
    count,
    terms: [...[...byRows.values()].map(joinLowRank), ...others],
    bias: bias ? Float32Array.from(bias) : null,
  };
}
