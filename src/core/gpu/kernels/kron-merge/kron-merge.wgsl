// kron-merge: the LoKr merge, out = base + coefficient * kron(W1, W2), elementwise:
//
//   out[i * rows2 + k, j * cols2 + l] = base[..] + coefficient * W1[i, j] * W2[k, l]
//
// W1 [rows1, cols1] and W2 [rows2, cols2] are the rebuilt (dense, f32) Kronecker factors; a conv
// W2 [b, d, kh, kw] is [b, d * kh * kw] flattened, which makes the flattened product exactly
// LyCORIS's 4-D kron. base and out are weight words [rows1 * rows2, cols1 * cols2] (f32 or
// packed f16, weight-words.wgsl), accumulated in f32. One invocation per word, 2-D dispatch.

struct Params {
  rows1: u32,
  cols1: u32,
  rows2: u32,
  cols2: u32,
  coefficient: f32,
}

override WG: u32;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> base: array<u32>;        // weight words [rows1 * rows2 * cols1 * cols2]
@group(0) @binding(2) var<storage, read> w1: array<f32>;          // [rows1, cols1]
@group(0) @binding(3) var<storage, read> w2: array<f32>;          // [rows2, cols2]
@group(0) @binding(4) var<storage, read_write> out: array<u32>;   // same layout as base

fn kron_at(e: u32) -> f32 {
  let cols = params.cols1 * params.cols2;
  let row = e / cols;
  let col = e % cols;
  let a = w1[(row / params.rows2) * params.cols1 + col / params.cols2];
  return a * w2[(row % params.rows2) * params.cols2 + col % params.cols2];
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(local_invocation_index) lid: u32,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let count = params.rows1 * params.rows2 * params.cols1 * params.cols2;
  let w = (wg.y * nwg.x + wg.x) * WG + lid;
  if (w >= weight_words(count)) {
    return;
  }
  let n = word_elements(w, count);
  let e = word_first(w);
  var d = vec2f(kron_at(e), 0.0);
  if (n == 2u) {
    d.y = kron_at(e + 1u);
  }
  let old = base[w];
  out[w] = word_pack(fma(vec2f(params.coefficient), d, word_unpack(old)), n, old);
}
