/**
 * A hand-assembled WebAssembly SIMD kernel (no compiler needed): the bytes of a module exporting
 *
 *     merge(w, up, d, ldw, r, b0, b1)
 *
 * which computes, in place in its (imported) memory, for row blocks b0 <= b < b1 of MR rows:
 *
 *     W[b·MR + a, j] = W[b·MR + a, j] + (Σ_p Up[b][p][a] · D[p, j])     for every column j
 *
 * `w` points at W0 padded to [rows, ldw/4] (rows a multiple of MR, ldw/4 a multiple of 8), `d` at
 * D packed per panel of 8 columns as [ldw/32][r][8], `up` at U packed per row block as
 * [blocks][r][MR], so the rank loop walks both packed operands contiguously. Padding rows and
 * columns only feed padding outputs. All byte addresses, 16-byte aligned.
 *
 * The register tile is MR rows x 8 columns: 2·MR f32x4 accumulators from zero, per rank step one
 * `v128.load32_splat` of U per row and two f32x4 loads of D, multiply then add; at the end W0 is
 * loaded, added once and stored. The product is summed in float32 in rank order before W0 is
 * added (as Diffusers/PEFT do: delta first, then W += delta), which keeps the rounding at the
 * scale of the delta rather than of W. With `fma` the multiply-add is relaxed SIMD's
 * `f32x4.relaxed_madd` (one instruction, fused where the CPU has FMA; shipped in Chrome 114+ and
 * Node 22+, behind `--experimental-wasm-relaxed-simd` in Node 20).
 */

const I32 = 0x7f;
const V128 = 0x7b;

const OP = {
  block: 0x02,
  loop: 0x03,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i32Const: 0x41,
  i32Eqz: 0x45,
  i32GeU: 0x4f,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32Mul: 0x6c,
  i32Shl: 0x74,
  simd: 0xfd,
  void: 0x40,
} as const;

const SIMD = {
  load: 0,
  load32Splat: 9,
  store: 11,
  v128Const: 12,
  f32x4Add: 228,
  f32x4Mul: 230,
  f32x4RelaxedMadd: 261,
} as const;

function uleb(n: number): number[] {
  const out: number[] = [];
  let v = n >>> 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  let v = n | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

function str(s: string): number[] {
  const b = [...new TextEncoder().encode(s)];
  return [...uleb(b.length), ...b];
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

/** Function body emitter: one method per instruction used. */
class Code {
  readonly bytes: number[] = [];
  get(i: number): this {
    this.bytes.push(OP.localGet, ...uleb(i));
    return this;
  }
  set(i: number): this {
    this.bytes.push(OP.localSet, ...uleb(i));
    return this;
  }
  tee(i: number): this {
    this.bytes.push(OP.localTee, ...uleb(i));
    return this;
  }
  i32(n: number): this {
    this.bytes.push(OP.i32Const, ...sleb(n));
    return this;
  }
  op(...ops: number[]): this {
    this.bytes.push(...ops);
    return this;
  }
  simd(op: number, memarg?: { align: number; offset: number }): this {
    this.bytes.push(OP.simd, ...uleb(op));
    if (memarg) this.bytes.push(...uleb(memarg.align), ...uleb(memarg.offset));
    return this;
  }
  load(offset: number): this {
    return this.simd(SIMD.load, { align: 4, offset });
  }
  store(offset: number): this {
    return this.simd(SIMD.store, { align: 4, offset });
  }
  zero(): this {
    this.simd(SIMD.v128Const);
    this.bytes.push(...new Array<number>(16).fill(0));
    return this;
  }
}

/** Rows per register tile; the tile is MR x 8 and needs 2·MR + 3 vector registers. */
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
  // i32 locals
  const B = 7;
  const J = 8;
  const WP = 9;
  const UPP = 10;
  const DP = 11;
  const P = 12;
  const WROW = 13;
  // v128 locals
  const ACC = 14;
  const D0 = ACC + 2 * mr;
  const D1 = D0 + 1;
  const S = D1 + 1;

  const c = new Code();
  /** Pushes the address of row `a` of the tile: wp + a·ldw. */
  const rowAddr = (a: number) => {
    c.get(WP);
    if (a > 0) c.get(LDW).i32(a).op(OP.i32Mul, OP.i32Add);
  };

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

  const locals = [2, ...uleb(7), I32, ...uleb(2 * mr + 3), V128];
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
    ...section(1, [1, 0x60, 7, I32, I32, I32, I32, I32, I32, I32, 0]),
    ...section(2, [1, ...str('env'), ...str('memory'), 0x02, ...memLimits]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...str('merge'), 0x00, 0]),
    ...section(10, [1, ...func]),
  ]);
}
