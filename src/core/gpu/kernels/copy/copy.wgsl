// copy: dst[i] = src[i] for `words` u32 words. The same bytes a merge reads and writes, with no
// arithmetic: the memory-bound baseline merges are measured against.
//
// The dispatch is 2D (x up to the per-dimension limit, y rows of x workgroups) so that any
// buffer size fits; element index = (wg.y * nwg.x + wg.x) * WG + local index.

struct Params {
  words: u32,
}

override WG: u32;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;         // [words]
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;   // [words]

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(local_invocation_index) lid: u32,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid;
  if (i < params.words) {
    dst[i] = src[i];
  }
}
