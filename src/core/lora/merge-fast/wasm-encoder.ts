/**
 * A minimal WebAssembly binary encoder for the hand-assembled kernels of this folder
 * (wasm-kernel.ts, axpy-kernel.ts): value types, the opcodes they use, LEB128, sections, and a
 * function-body emitter with one method per instruction kind.
 */

export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;

export const OP = {
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

export const SIMD = {
  load: 0,
  load32Splat: 9,
  store: 11,
  v128Const: 12,
  f32x4Splat: 19,
  f32x4Add: 228,
  f32x4Mul: 230,
  f32x4RelaxedMadd: 261,
} as const;

export function uleb(n: number): number[] {
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

export function sleb(n: number): number[] {
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

export function str(s: string): number[] {
  const b = [...new TextEncoder().encode(s)];
  return [...uleb(b.length), ...b];
}

export function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

/** Function body emitter: one method per instruction used. */
export class Code {
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
