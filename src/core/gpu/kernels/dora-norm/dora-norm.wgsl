// dora-norm: the per-group rescale factor of DoRA (weight decomposition), one workgroup per group:
//
//   factor[g] = magnitude[g] / (|| W0[group g] + inside * delta[group g] ||_2 + eps)
//
// A weight of `outer * groups * inner` elements is seen as [outer, groups, inner]; group g is
// the slice [:, g, :]. A norm per output row is (outer, groups, inner) = (1, out, in*kh*kw); a
// norm per input column (older LyCORIS `dora_scale` [1, in]) is (out, in_ch, kh*kw). `inside`
// is the strength inside the norm (PEFT) or 1 (LyCORIS); eps is 0 (PEFT) or float32 eps
// (LyCORIS). W0 is weight words (f32 or packed f16, weight-words.wgsl); delta is f32; the sum of
// squares accumulates in f32 per thread, then a tree over the workgroup.

struct Params {
  outer: u32,
  groups: u32,
  inner: u32,
  inside: f32,
  eps: f32,
}

override WG: u32;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> w0: array<u32>;            // weight words [outer * groups * inner]
@group(0) @binding(2) var<storage, read> delta: array<f32>;         // [outer * groups * inner]
@group(0) @binding(3) var<storage, read> magnitude: array<f32>;     // [groups]
@group(0) @binding(4) var<storage, read_write> factor: array<f32>;  // [groups]

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = wg.x;
  let inner = params.inner;
  let members = params.outer * inner;
  var s = 0.0;
  for (var m = lid; m < members; m += WG) {
    let e = ((m / inner) * params.groups + g) * inner + m % inner;
    let v = fma(params.inside, delta[e], word_unpack(w0[word_of(e)])[lane_of(e)]);
    s = fma(v, v, s);
  }
  partial[lid] = s;
  workgroupBarrier();
  // WG is a power of two (checked by the TypeScript declaration).
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      partial[lid] += partial[lid + stride];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    factor[g] = magnitude[g] / (sqrt(partial[0]) + params.eps);
  }
}
