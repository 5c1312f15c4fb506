// merge-lora: the effective weight of one module with all its LoRA adapters, in one launch:
//
//   W_eff[o, i] = W0[o, i] + sum_r U[o, r] * scale[r] * D[r, i]
//
// U [out, R] and D [R, in] are the adapters' up and down factors concatenated along the rank
// axis; scale[r] is the coefficient of the adapter that owns rank column r (adapter weight x
// alpha / rank x schedule), folded into U as U is staged. A k x k conv is the same product with
// in = in_ch * kh * kw (down [r, in_ch, kh, kw] flattened row-major, up [out, r, 1, 1]).
//
// W0 and W_eff are weight words, flattened row-major [out * in] (f32 or packed f16,
// weight-words.wgsl: an odd count's padding half is kept as W0 has it). Accumulation is f32.
//
// Tiling: a workgroup of WG_I x WG_O threads computes a tile of TILE_O = WG_O * BLOCK rows by
// TILE_I = WG_I * BLOCK columns; each thread a BLOCK x BLOCK block (BLOCK rows, BLOCK adjacent
// columns as one vec4). R is walked in chunks of R_CHUNK staged in workgroup memory.
//
// Packed f16: a word is written by the thread whose block holds its first (even) element. When
// its second element lies outside that block (odd `in`: at a row end or a block edge), that one
// value is computed directly from global memory, so no two threads ever write the same word.

struct Params {
  out_features: u32,
  in_features: u32,
  rank: u32,
}

const BLOCK: u32 = 4;

override WG_O: u32;
override WG_I: u32;
override R_CHUNK: u32;
override TILE_O: u32 = WG_O * BLOCK;
override TILE_I: u32 = WG_I * BLOCK;
override U_TILE_LEN: u32 = R_CHUNK * WG_O;
override D_TILE_LEN: u32 = R_CHUNK * WG_I;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> w0: array<u32>;          // [out * in] f32, or packed f16 [ceil(out * in / 2)]
@group(0) @binding(2) var<storage, read> up: array<f32>;          // U [out, R]
@group(0) @binding(3) var<storage, read> scale: array<f32>;       // [R]
@group(0) @binding(4) var<storage, read> down: array<f32>;        // D [R, in]
@group(0) @binding(5) var<storage, read_write> w_eff: array<u32>; // same layout as w0

// u_tile[k * WG_O + ty]: U * scale at rank k of chunk, rows ty * BLOCK .. + BLOCK of the tile.
var<workgroup> u_tile: array<vec4f, U_TILE_LEN>;
// d_tile[k * WG_I + tx]: D at rank k of chunk, columns tx * BLOCK .. + BLOCK of the tile.
var<workgroup> d_tile: array<vec4f, D_TILE_LEN>;

// One element of U * diag(scale) * D, straight from global memory (packed-f16 word partners).
fn delta_at(flat: u32) -> f32 {
  let o = flat / params.in_features;
  let i = flat % params.in_features;
  var s = 0.0;
  for (var r = 0u; r < params.rank; r++) {
    s = fma(up[o * params.rank + r] * scale[r], down[r * params.in_features + i], s);
  }
  return s;
}

@compute @workgroup_size(WG_I, WG_O)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let out_f = params.out_features;
  let in_f = params.in_features;
  let rank = params.rank;
  let o0 = wg.y * TILE_O;
  let i0 = wg.x * TILE_I;
  let tx = lid.x;
  let ty = lid.y;
  let threads = WG_I * WG_O;
  let t = ty * WG_I + tx;

  var acc = array<vec4f, BLOCK>();
  for (var r0 = 0u; r0 < rank; r0 += R_CHUNK) {
    // Stage U[o0.., r0..] * scale: consecutive threads read consecutive r of one row.
    for (var e = t; e < TILE_O * R_CHUNK; e += threads) {
      let row = e / R_CHUNK;
      let k = e % R_CHUNK;
      let o = o0 + row;
      let r = r0 + k;
      var v = 0.0;
      if (o < out_f && r < rank) {
        v = up[o * rank + r] * scale[r];
      }
      u_tile[k * WG_O + row / BLOCK][row % BLOCK] = v;
    }
    // Stage D[r0.., i0..]: consecutive threads read consecutive columns of one rank row.
    for (var e = t; e < R_CHUNK * TILE_I; e += threads) {
      let k = e / TILE_I;
      let col = e % TILE_I;
      let i = i0 + col;
      let r = r0 + k;
      var v = 0.0;
      if (i < in_f && r < rank) {
        v = down[r * in_f + i];
      }
      d_tile[k * WG_I + col / BLOCK][col % BLOCK] = v;
    }
    workgroupBarrier();
    for (var k = 0u; k < R_CHUNK; k++) {
      let a = u_tile[k * WG_O + ty];
      let b = d_tile[k * WG_I + tx];
      acc[0] = fma(vec4f(a.x), b, acc[0]);
      acc[1] = fma(vec4f(a.y), b, acc[1]);
      acc[2] = fma(vec4f(a.z), b, acc[2]);
      acc[3] = fma(vec4f(a.w), b, acc[3]);
    }
    workgroupBarrier();
  }

  let total = out_f * in_f;
  let c = i0 + tx * BLOCK;
  for (var b = 0u; b < BLOCK; b++) {
    let o = o0 + ty * BLOCK + b;
    if (o >= out_f) {
      break;
    }
    for (var j = 0u; j < BLOCK; j++) {
      let i = c + j;
      if (i >= in_f) {
        break;
      }
      let flat = o * in_f + i;
      if (!PACKED_F16) {
        w_eff[flat] = bitcast<u32>(bitcast<f32>(w0[flat]) + acc[b][j]);
      } else if ((flat & 1u) == 0u) {
        var hi = 0.0;
        var n = 1u;
        if (flat + 1u < total) {
          n = 2u;
          if (j + 1u < BLOCK && i + 1u < in_f) {
            hi = acc[b][j + 1u];
          } else {
            hi = delta_at(flat + 1u);
          }
        }
        let word = flat >> 1u;
        let old = w0[word];
        w_eff[word] = word_pack(word_unpack(old) + vec2f(acc[b][j], hi), n, old);
      }
    }
  }
}
