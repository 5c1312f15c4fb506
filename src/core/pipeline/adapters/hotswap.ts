/**
 * Hotswap buffers (DESIGN.md decision 6, LORA-FORMATS.md 5): with `enableLoraHotswap({targetRank})`
 * a plain LoRA module's factors live in store-owned arrays sized for the target rank (`down`
 * [T, in(,kh,kw)] with zero rows past the rank, `up` [out, T(,1,1)] with zero columns), so a swap
 * copies the new factors in and allocates nothing. Zero padding changes no product: the matmul
 * skips zero terms, so padded and unpadded factors give bit-identical deltas. `rank` and `alpha`
 * keep the file's values (the scale is alpha / the file's rank).
 */
import { LorafuseError } from '../../../errors.ts';
import { type AdapterModule, type F32Tensor, moduleId } from '../../lora/adapter.ts';

type Alloc = (length: number) => Float32Array;

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** The rank a module's factors carry (what the target rank must hold), or null for kinds not padded. */
export function paddableRank(m: AdapterModule): number | null {
  if (m.kind !== 'lora') return null;
  return m.factors.down?.shape[0] ?? null;
}

/** Modules whose rank exceeds the target rank, for the error message. */
export function overTargetRank(modules: readonly AdapterModule[], targetRank: number): string[] {
  return modules
    .filter((m) => (paddableRank(m) ?? 0) > targetRank)
    .map((m) => `${moduleId(m)} (rank ${m.rank})`);
}

export function refuseOverTargetRank(
  modules: readonly AdapterModule[],
  targetRank: number,
  source: string,
): void {
  const over = overTargetRank(modules, targetRank);
  if (over.length === 0) return;
  throw new LorafuseError(
    'invalid-argument',
    `${source}: ${over.length} module(s) have a rank above the hotswap target rank ${targetRank}: ${over.slice(0, 5).join(', ')}${over.length > 5 ? ', ...' : ''}. Call enableLoraHotswap with a targetRank of at least the largest rank you will load.`,
    { file: source, targetRank, modules: over },
  );
}

function copyRows(dst: Float32Array, src: Float32Array): void {
  dst.fill(0);
  dst.set(src);
}

/** up [out, r, ...] into [out, T, ...] (the trailing dims are 1x1 for a LoRA up factor). */
function copyColumns(dst: Float32Array, src: Float32Array, out: number, r: number, t: number): void {
  dst.fill(0);
  for (let o = 0; o < out; o++) dst.set(src.subarray(o * r, (o + 1) * r), o * t);
}

/** Same factor names, same DoRA presence and bias/magnitude sizes: the buffers can hold it. */
function fits(buf: AdapterModule, m: AdapterModule, t: number): boolean {
  if (m.kind !== 'lora' || buf.kind !== 'lora') return false;
  const names = (x: AdapterModule) => Object.keys(x.factors).sort().join(',');
  if (names(buf) !== names(m)) return false;
  const down = m.factors.down;
  const up = m.factors.up;
  const bd = buf.factors.down;
  const bu = buf.factors.up;
  if (!down || !up || !bd || !bu) return false;
  const r = down.shape[0] ?? 0;
  if (r > t || numel(down.shape) / r !== numel(bd.shape) / t) return false;
  if ((up.shape[0] ?? 0) !== (bu.shape[0] ?? 0)) return false;
  if (m.factors.bias?.data.length !== buf.factors.bias?.data.length) return false;
  if (!!m.dora !== !!buf.dora) return false;
  if (m.dora && buf.dora && m.dora.magnitude.data.length !== buf.dora.magnitude.data.length) return false;
  return true;
}

/** Writes `m` into `buf`'s arrays (no allocation); returns the module that now reads them. */
function writeInto(buf: AdapterModule, m: AdapterModule, t: number): AdapterModule {
  const down = m.factors.down!;
  const up = m.factors.up!;
  const r = down.shape[0] ?? 0;
  const bd = buf.factors.down!;
  const bu = buf.factors.up!;
  copyRows(bd.data, down.data);
  copyColumns(bu.data, up.data, up.shape[0] ?? 0, r, t);
  const factors: Record<string, F32Tensor> = { down: bd, up: bu };
  if (m.factors.bias && buf.factors.bias) {
    buf.factors.bias.data.set(m.factors.bias.data);
    factors.bias = buf.factors.bias;
  }
  const out: AdapterModule = { ...m, factors };
  if (m.dora && buf.dora) {
    buf.dora.magnitude.data.set(m.dora.magnitude.data);
    out.dora = { ...m.dora, magnitude: buf.dora.magnitude };
  }
  return out;
}

/** Allocates target-rank buffers for a plain LoRA module and copies it in; null for other kinds. */
export function padModule(m: AdapterModule, t: number, alloc: Alloc): AdapterModule | null {
  if (paddableRank(m) === null) return null;
  const down = m.factors.down!;
  const up = m.factors.up!;
  const downShape = [t, ...down.shape.slice(1)];
  const upShape = [up.shape[0] ?? 0, t, ...up.shape.slice(2)];
  const buf: AdapterModule = {
    ...m,
    factors: {
      down: { shape: downShape, data: alloc(numel(downShape)) },
      up: { shape: upShape, data: alloc(numel(upShape)) },
    },
  };
  if (m.factors.bias)
    buf.factors.bias = { shape: [...m.factors.bias.shape], data: alloc(m.factors.bias.data.length) };
  if (m.dora) {
    buf.dora = {
      ...m.dora,
      magnitude: { shape: [...m.dora.magnitude.shape], data: alloc(m.dora.magnitude.data.length) },
    };
  }
  return writeInto(buf, m, t);
}

/**
 * Puts `m` into the existing buffers when they can hold it (no allocation) and returns the module
 * that reads them; null when they cannot (another kind, other factors): the caller then keeps
 * `m` as converted.
 */
export function swapInto(buf: AdapterModule, m: AdapterModule, t: number): AdapterModule | null {
  return fits(buf, m, t) ? writeInto(buf, m, t) : null;
}

const copy = (t: F32Tensor): F32Tensor => ({ shape: [...t.shape], data: t.data.slice() });

/**
 * A module held in target-rank buffers as its file holds it: factors cut back to the file's rank,
 * every array copied (a later swap rewrites the buffers, never this snapshot).
 */
export function unpadModule(m: AdapterModule): AdapterModule {
  const factors: Record<string, F32Tensor> = {};
  for (const [name, t] of Object.entries(m.factors)) factors[name] = copy(t);
  const down = m.factors.down;
  const up = m.factors.up;
  const t = down?.shape[0];
  if (m.kind === 'lora' && down && up && t !== undefined && t !== m.rank) {
    const r = m.rank;
    const out = up.shape[0] ?? 0;
    const cols = numel(down.shape) / t;
    const upData = new Float32Array(out * r);
    for (let o = 0; o < out; o++) upData.set(up.data.subarray(o * t, o * t + r), o * r);
    factors.down = { shape: [r, ...down.shape.slice(1)], data: down.data.slice(0, r * cols) };
    factors.up = { shape: [out, r, ...up.shape.slice(2)], data: upData };
  }
  const out: AdapterModule = { ...m, factors };
  if (m.dora) out.dora = { ...m.dora, magnitude: copy(m.dora.magnitude) };
  return out;
}
