// add-delta: out = base + coefficient * delta, elementwise over a weight of `count` elements.
// The delta is f32; base and out are weight words (f32 or packed f16, weight-words.wgsl),
// accumulated in f32. Used for LyCORIS full ("diff") and norm modules, bias deltas, and to add
// a delta built in an f32 scratch buffer (DoRA, several terms on one module) to W0.
// One invocation per word; 2-D dispatch (item = (wg.y * nwg.x + wg.x) * WG + local index).

struct Params {
  count: u32,
  coefficient: f32,
}

override WG: u32;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> base: array<u32>;        // weight words [count]
@group(0) @binding(2) var<storage, read> delta: array<f32>;       // [count]
@group(0) @binding(3) var<storage, read_write> out: array<u32>;   // weight words [count]

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(local_invocation_index) lid: u32,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let w = (wg.y * nwg.x + wg.x) * WG + lid;
  if (w >= weight_words(params.count)) {
    return;
  }
  let n = word_elements(w, params.count);
  let e = word_first(w);
  var d = vec2f(delta[e], 0.0);
  if (n == 2u) {
    d.y = delta[e + 1u];
  }
  let old = base[w];
  out[w] = word_pack(fma(vec2f(params.coefficient), d, word_unpack(old)), n, old);
}
