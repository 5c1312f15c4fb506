// tucker-core: the first contraction of a Tucker rebuild (LyCORIS `rebuild_tucker`), which
// turns a core and its input-side factor into the `down` of an ordinary low-rank product:
//
//   out[i, q, k] = sum_j core[i, j, k] * wb[j, q]
//
// core [r1, r2, kernel] (a conv's [r1, r2, kh, kw] flattened), wb [r2, q]; out [r1, q * kernel]
// row-major. The full rebuild is then K[p, (q, k)] = sum_i wa[i, p] * out[i, (q, k)]: LoCon
// Tucker's up · out, LoHa Tucker's and LoKr Tucker's wa^T · out. f32 only (factors are f32).
// One invocation per output element; 2-D dispatch (item = (wg.y * nwg.x + wg.x) * WG + local).

struct Params {
  r1: u32,
  r2: u32,
  q: u32,
  kernel: u32,
}

override WG: u32;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> core: array<f32>;        // [r1, r2, kernel]
@group(0) @binding(2) var<storage, read> wb: array<f32>;          // [r2, q]
@group(0) @binding(3) var<storage, read_write> out: array<f32>;   // [r1, q * kernel]

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(local_invocation_index) lid: u32,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let e = (wg.y * nwg.x + wg.x) * WG + lid;
  let qk = params.q * params.kernel;
  if (e >= params.r1 * qk) {
    return;
  }
  let i = e / qk;
  let q = (e % qk) / params.kernel;
  let k = e % params.kernel;
  var s = 0.0;
  for (var j = 0u; j < params.r2; j++) {
    s = fma(core[(i * params.r2 + j) * params.kernel + k], wb[j * params.q + q], s);
  }
  out[e] = s;
}
