// loha: the LoHa (Hadamard product) merge of one module, without either product in memory:
//
//   out[o, i] = base[o, i] + coefficient * (sum_r up1[o, r] down1[r, i]) * (sum_s up2[o, s] down2[s, i])
//
// up1 = w1a [out, rank1], down1 = w1b [rank1, in], likewise up2/down2 (a conv's in = in_ch*kh*kw).
// The Tucker form uses the same kernel with up = wa^T and down = tucker-core(t, wb) (see
// merge-module.ts). base and out are weight words [out * in] (f32 or packed f16,
// weight-words.wgsl); both products accumulate in f32.
//
// Tiling as in merge-lora: a workgroup of WG_I x WG_O threads computes a TILE_O x TILE_I tile,
// each thread a BLOCK x BLOCK block (BLOCK adjacent columns as one vec4), once per product into
// its own accumulators; ranks are staged R_CHUNK at a time in workgroup memory (the same tiles
// serve both products in turn).
//
// Packed f16: a word is written by the thread whose block holds its first (even) element. When
// its second element lies outside that block (odd `in`: at a row end or a block edge), that value
// is computed directly from global memory, so no two threads ever write the same word.

struct Params {
  out_features: u32,
  in_features: u32,
  rank1: u32,
  rank2: u32,
  coefficient: f32,
}

const BLOCK: u32 = 4;

override WG_O: u32;
override WG_I: u32;
override R_CHUNK: u32;
override THREADS: u32 = WG_I * WG_O;
override TILE_O: u32 = WG_O * BLOCK;
override TILE_I: u32 = WG_I * BLOCK;
override U_TILE_LEN: u32 = R_CHUNK * WG_O;
override D_TILE_LEN: u32 = R_CHUNK * WG_I;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> base: array<u32>;        // weight words [out * in]
@group(0) @binding(2) var<storage, read> up1: array<f32>;         // w1a [out, rank1]
@group(0) @binding(3) var<storage, read> down1: array<f32>;       // w1b [rank1, in]
@group(0) @binding(4) var<storage, read> up2: array<f32>;         // w2a [out, rank2]
@group(0) @binding(5) var<storage, read> down2: array<f32>;       // w2b [rank2, in]
@group(0) @binding(6) var<storage, read_write> out: array<u32>;   // same layout as base

// u_tile[k * WG_O + ty]: up at rank r0 + k, rows ty * BLOCK .. + BLOCK of the tile.
var<workgroup> u_tile: array<vec4f, U_TILE_LEN>;
// d_tile[k * WG_I + tx]: down at rank r0 + k, columns tx * BLOCK .. + BLOCK of the tile.
var<workgroup> d_tile: array<vec4f, D_TILE_LEN>;

fn up_at(second: bool, o: u32, r: u32) -> f32 {
  if (second) {
    return up2[o * params.rank2 + r];
  }
  return up1[o * params.rank1 + r];
}

fn down_at(second: bool, r: u32, i: u32) -> f32 {
  if (second) {
    return down2[r * params.in_features + i];
  }
  return down1[r * params.in_features + i];
}

// Stages ranks r0 .. r0 + R_CHUNK of one product (zeros past its rank) for the tile at (o0, i0).
fn stage(second: bool, rank: u32, r0: u32, o0: u32, i0: u32, t: u32) {
  for (var e = t; e < TILE_O * R_CHUNK; e += THREADS) {
    let row = e / R_CHUNK;
    let k = e % R_CHUNK;
    let o = o0 + row;
    var v = 0.0;
    if (o < params.out_features && r0 + k < rank) {
      v = up_at(second, o, r0 + k);
    }
    u_tile[k * WG_O + row / BLOCK][row % BLOCK] = v;
  }
  for (var e = t; e < R_CHUNK * TILE_I; e += THREADS) {
    let k = e / TILE_I;
    let col = e % TILE_I;
    let i = i0 + col;
    var v = 0.0;
    if (i < params.in_features && r0 + k < rank) {
      v = down_at(second, r0 + k, i);
    }
    d_tile[k * WG_I + col / BLOCK][col % BLOCK] = v;
  }
}

fn accumulate(acc: ptr<function, array<vec4f, BLOCK>>, tx: u32, ty: u32) {
  for (var k = 0u; k < R_CHUNK; k++) {
    let a = u_tile[k * WG_O + ty];
    let b = d_tile[k * WG_I + tx];
    (*acc)[0] = fma(vec4f(a.x), b, (*acc)[0]);
    (*acc)[1] = fma(vec4f(a.y), b, (*acc)[1]);
    (*acc)[2] = fma(vec4f(a.z), b, (*acc)[2]);
    (*acc)[3] = fma(vec4f(a.w), b, (*acc)[3]);
  }
}

// One element of the Hadamard product, straight from global memory (packed-f16 word partners).
fn product_at(flat: u32) -> f32 {
  let o = flat / params.in_features;
  let i = flat % params.in_features;
  var s1 = 0.0;
  for (var r = 0u; r < params.rank1; r++) {
    s1 = fma(up1[o * params.rank1 + r], down1[r * params.in_features + i], s1);
  }
  var s2 = 0.0;
  for (var r = 0u; r < params.rank2; r++) {
    s2 = fma(up2[o * params.rank2 + r], down2[r * params.in_features + i], s2);
  }
  return s1 * s2;
}

@compute @workgroup_size(WG_I, WG_O)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let out_f = params.out_features;
  let in_f = params.in_features;
  let o0 = wg.y * TILE_O;
  let i0 = wg.x * TILE_I;
  let tx = lid.x;
  let ty = lid.y;
  let t = ty * WG_I + tx;

  var acc1 = array<vec4f, BLOCK>();
  for (var r0 = 0u; r0 < params.rank1; r0 += R_CHUNK) {
    stage(false, params.rank1, r0, o0, i0, t);
    workgroupBarrier();
    accumulate(&acc1, tx, ty);
    workgroupBarrier();
  }
  var acc2 = array<vec4f, BLOCK>();
  for (var r0 = 0u; r0 < params.rank2; r0 += R_CHUNK) {
    stage(true, params.rank2, r0, o0, i0, t);
    workgroupBarrier();
    accumulate(&acc2, tx, ty);
    workgroupBarrier();
  }

  let c = vec2f(params.coefficient);
  let total = out_f * in_f;
  let col0 = i0 + tx * BLOCK;
  for (var b = 0u; b < BLOCK; b++) {
    let o = o0 + ty * BLOCK + b;
    if (o >= out_f) {
      break;
    }
    let p = acc1[b] * acc2[b];
    for (var j = 0u; j < BLOCK; j++) {
      let i = col0 + j;
      if (i >= in_f) {
        break;
      }
      let flat = o * in_f + i;
      if (!PACKED_F16) {
        out[flat] = bitcast<u32>(fma(params.coefficient, p[j], bitcast<f32>(base[flat])));
      } else if ((flat & 1u) == 0u) {
        var hi = 0.0;
        var n = 1u;
        if (flat + 1u < total) {
          n = 2u;
          if (j + 1u < BLOCK && i + 1u < in_f) {
            hi = p[j + 1u];
          } else {
            hi = product_at(flat + 1u);
          }
        }
        let word = flat >> 1u;
        let old = base[word];
        out[word] = word_pack(fma(c, vec2f(p[j], hi), word_unpack(old)), n, old);
      }
    }
  }
}
