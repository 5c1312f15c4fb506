// dora-rescale: turns a DoRA module's delta into its weight change, in place, elementwise:
//
//   c = W0[e] + inside * delta[e];  delta[e] = mix * (factor[g(e)] * c - W0[e])
//
// g(e) = (e / inner) % groups, the group of dora-norm. PEFT: inside = strength, mix = 1, so
// W0 + delta = factor * (W0 + m dW). LyCORIS: inside = 1, mix = strength (the A1111/ComfyUI
// interpolation W0 + m (factor (W0 + dW) - W0)). Adding the result to W0 (add-delta) gives the
// merged weight; several DoRA terms on one module are each taken against W0.
// W0 is weight words (f32 or packed f16, weight-words.wgsl); delta and factor f32. One
// invocation per W0 word, 2-D dispatch.

struct Params {
  count: u32,
  groups: u32,
  inner: u32,
  inside: f32,
  mix: f32,
}

override WG: u32;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> w0: array<u32>;            // weight words [count]
@group(0) @binding(2) var<storage, read> factor: array<f32>;        // [groups]
@group(0) @binding(3) var<storage, read_write> delta: array<f32>;   // [count]

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
  let v0 = word_unpack(w0[w]);
  let n = word_elements(w, params.count);
  for (var lane = 0u; lane < n; lane++) {
    let e = word_first(w) + lane;
    let f = factor[(e / params.inner) % params.groups];
    let c = fma(params.inside, delta[e], v0[lane]);
    delta[e] = params.mix * fma(f, c, -v0[lane]);
  }
}
