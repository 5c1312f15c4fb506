/**
 * A hand-assembled WebAssembly SIMD kernel (no compiler needed): the bytes of a module exporting
 *
 *     merge(w, up, d, ldw, r, b0, b1, c)
 *
 * which computes, in place in its (imported) memory, for row blocks b0 <= b < b1 of MR rows:
 *
 *     W[b·MR + a, j] = W[b·MR + a, j] + c · (Σ_p Up[b][p][a] · D[p, j])     for every column j
 *
 * `w` points at W0 padded to [rows, ldw/4] (rows a multiple of MR, ldw/4 a multiple of 8), `d` at
 * D packed per panel of 8 columns as [ldw/32][r][8], `up` at U packed per row block as
 * [blocks][r][MR], so the rank loop walks both packed operands contiguously. Padding rows and
 * columns only feed padding outputs. All byte addresses, 16-byte aligned.
 *
 * The register tile is MR rows x 8 columns: 2·MR f32x4 accumulators from zero, per rank step one
 * `v128.load32_splat` of U per row and two f32x4 loads of D, multiply then add; at the end W0 is
 * loaded, added once (times the f32 `c`) and stored. The product is summed in float32 in rank
 * order before W0 is added (as Diffusers/PEFT do: delta first, then W += delta), which keeps the
 * rounding at the scale of the delta rather than of W. The accumulators start at +0, so the sum is
 * never -0: `W0 + c·sum` has the bits of delta-cache's `W0 + c ⊗ dW` with `dW` this kernel's
 * result on W0 = 0 and c = 1 (c = 1 multiplies exactly: the plain merge is unchanged). With `fma` the multiply-add is relaxed SIMD's
 * `f32x4.relaxed_madd` (one instruction, fused where the CPU has FMA; shipped in Chrome 114+ and
 * Node 22+, behind `--experimental-wasm-relaxed-simd` in Node 20).
 */

import { Code, F32, I32, OP, SIMD, section, str, uleb, V128 } from './wasm-encoder.ts';

/** Rows per register tile; the tile is MR x 8 and needs 2·MR + 4 vector registers. */
export const DEFAULT_MR = 4;
/** Columns per register tile (two f32x4). */
export const NR = 8;

/** The kernel module's bytes, importing `env.memory` (shared when `shared`). */
export function mergeKernelBytes(opts: {
  mr?: number;
  fma?: boolean;
  shared: boolean;
  maxPages: number;
}): Uint8Array<ArrayBuffer> {
  const mr = opts.mr ?? DEFAULT_MR;
  // params
  const W = 0;
  const UP = 1;
  const D = 2;
  const LDW = 3;
  const R = 4;
  const B0 = 5;
  const B1 = 6;
  const C = 7;
  // i32 locals
  const B = 8;
  const J = 9;
  const WP = 10;
  const UPP = 11;
  const DP = 12;
  const P = 13;
  const WROW = 14;
  // v128 locals
  const ACC = 15;
  const D0 = ACC + 2 * mr;
  const D1 = D0 + 1;
  const S = D1 + 1;
  const CS = S + 1;

  const c = new Code();
  /** Pushes the address of row `a` of the tile: wp + a·ldw. */
  const rowAddr = (a: number) => {
    c.get(WP);
    if (a > 0) c.get(LDW).i32(a).op(OP.i32Mul, OP.i32Add);
  };

  c.get(C).simd(SIMD.f32x4Splat).set(CS);
  c.get(B0).set(B);
  c.op(OP.block, OP.void, OP.loop, OP.void);
  c.get(B).get(B1).op(OP.i32GeU, OP.brIf, 1);
  // wrow = w + b·MR·ldw
  c.get(W).get(B).i32(mr).op(OP.i32Mul).get(LDW).op(OP.i32Mul, OP.i32Add).set(WROW);
  c.i32(0).set(J);
  c.op(OP.block, OP.void, OP.loop, OP.void);
  c.get(J).get(LDW).op(OP.i32GeU, OP.brIf, 1);
  c.get(WROW).get(J).op(OP.i32Add).set(WP);
  for (let a = 0; a < 2 * mr; a++) c.zero().set(ACC + a);
  // upp = up + b·r·MR·4 ; dp = d + (j/32)·r·32 = d + j·r ; p = r
  c.get(UP)
    .get(B)
    .get(R)
    .op(OP.i32Mul)
    .i32(mr * 4)
    .op(OP.i32Mul, OP.i32Add)
    .set(UPP);
  c.get(D).get(J).get(R).op(OP.i32Mul, OP.i32Add).set(DP);
  c.get(R).set(P);
  c.op(OP.block, OP.void);
  c.get(P).op(OP.i32Eqz, OP.brIf, 0);
  c.op(OP.loop, OP.void);
  c.get(DP).load(0).set(D0);
  c.get(DP).load(16).set(D1);
  for (let a = 0; a < mr; a++) {
    c.get(UPP)
      .simd(SIMD.load32Splat, { align: 2, offset: 4 * a })
      .set(S);
    for (let h = 0; h < 2; h++) {
      const acc = ACC + 2 * a + h;
      const dv = h === 0 ? D0 : D1;
      if (opts.fma) c.get(S).get(dv).get(acc).simd(SIMD.f32x4RelaxedMadd).set(acc);
      else c.get(acc).get(S).get(dv).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add).set(acc);
    }
  }
  c.get(UPP)
    .i32(mr * 4)
    .op(OP.i32Add)
    .set(UPP);
  c.get(DP)
    .i32(NR * 4)
    .op(OP.i32Add)
    .set(DP);
  c.get(P).i32(1).op(OP.i32Sub).tee(P).op(OP.brIf, 0);
  c.op(OP.end, OP.end); // loop p, block p
  for (let a = 0; a < mr; a++) {
    for (let h = 0; h < 2; h++) {
      rowAddr(a); // the store's address
      rowAddr(a);
      c.load(16 * h)
        .get(ACC + 2 * a + h)
        .get(CS)
        .simd(SIMD.f32x4Mul)
        .simd(SIMD.f32x4Add)
        .store(16 * h);
    }
  }
  c.get(J)
    .i32(NR * 4)
    .op(OP.i32Add)
    .set(J);
  c.op(OP.br, 0, OP.end, OP.end); // loop j, block j
  c.get(B).i32(1).op(OP.i32Add).set(B);
  c.op(OP.br, 0, OP.end, OP.end); // loop b, block b
  c.op(OP.end); // function

  const locals = [2, ...uleb(7), I32, ...uleb(2 * mr + 4), V128];
  const body = [...locals, ...c.bytes];
  const func = [...uleb(body.length), ...body];

  const memLimits = opts.shared
    ? [0x03, ...uleb(1), ...uleb(opts.maxPages)]
    : [0x01, ...uleb(1), ...uleb(opts.maxPages)];
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, [1, 0x60, 8, I32, I32, I32, I32, I32, I32, I32, F32, 0]),
    ...section(2, [1, ...str('env'), ...str('memory'), 0x02, ...memLimits]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...str('merge'), 0x00, 0]),
    ...section(10, [1, ...func]),
  ]);
}
