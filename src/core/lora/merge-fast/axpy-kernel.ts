/**
 * A hand-assembled WebAssembly SIMD module for the delta cache (delta-cache.ts), exporting two
 * functions over `n4` f32x4 vectors of its (imported, unshared) memory:
 *
 *     madd(dst, a, src, c, n4):   dst[i] = a[i] + c · src[i]     (dst may be a: dst += c·src)
 *     scale(dst, a, src, c, n4):  dst[i] = c · src[i]            (a is not read)
 *
 * in plain float32 (f32x4.mul then f32x4.add: no fused multiply-add, so every engine and CPU
 * rounds the same way, and `combine-deltas.ts`'s JavaScript gives the same bits). `dst`, `a` and
 * `src` are 16-byte aligned byte addresses; `c` arrives as an f32 (JavaScript numbers are rounded
 * to float32 on the call, as `Math.fround` does).
 */
import { Code, F32, I32, OP, SIMD, section, str, uleb, V128 } from './wasm-encoder.ts';

const DST = 0;
const A = 1;
const SRC = 2;
const C = 3;
const N4 = 4;
const CV = 5;

function body(kind: 'madd' | 'scale'): number[] {
  const c = new Code();
  c.get(C).simd(SIMD.f32x4Splat).set(CV);
  c.op(OP.block, OP.void);
  c.get(N4).op(OP.i32Eqz, OP.brIf, 0);
  c.op(OP.loop, OP.void);
  c.get(DST); // the store's address
  if (kind === 'madd') c.get(A).load(0);
  c.get(CV).get(SRC).load(0).simd(SIMD.f32x4Mul);
  if (kind === 'madd') c.simd(SIMD.f32x4Add);
  c.store(0);
  for (const p of kind === 'madd' ? [DST, A, SRC] : [DST, SRC]) c.get(p).i32(16).op(OP.i32Add).set(p);
  c.get(N4).i32(1).op(OP.i32Sub).tee(N4).op(OP.brIf, 0);
  c.op(OP.end, OP.end); // loop, block
  c.op(OP.end); // function
  const b = [1, ...uleb(1), V128, ...c.bytes];
  return [...uleb(b.length), ...b];
}

/** The module's bytes, importing `env.memory` (unshared, at least one page). */
export function axpyKernelBytes(): Uint8Array<ArrayBuffer> {
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, [1, 0x60, 5, I32, I32, I32, F32, I32, 0]),
    ...section(2, [1, ...str('env'), ...str('memory'), 0x02, 0x00, ...uleb(1)]),
    ...section(3, [2, 0, 0]),
    ...section(7, [2, ...str('madd'), 0x00, 0, ...str('scale'), 0x00, 1]),
    ...section(10, [2, ...body('madd'), ...body('scale')]),
  ]);
}

export interface AxpyKernel {
  madd(dst: number, a: number, src: number, c: number, n4: number): void;
  scale(dst: number, a: number, src: number, c: number, n4: number): void;
}
