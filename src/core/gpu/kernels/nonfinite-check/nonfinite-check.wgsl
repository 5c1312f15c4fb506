// nonfinite-check: counts the NaN and the +-Inf elements of a buffer and finds the index of the
// first non-finite one, so that a merge or fuse can refuse a bad result and name the module.
//
// The test is on bits (exponent all ones), which no fast-math rewrite can fold away:
//   PACKED_F16 = false: one f32 per u32 word, `count` words.
//   PACKED_F16 = true:  two f16 per word (element 2k low half, 2k+1 high half); `count` elements,
//                       so the padding half of an odd count is never read.
//
// result[0] = NaN count, result[1] = Inf count, result[2] = first non-finite element index
// (0xffffffff when none). The caller initialises result to [0, 0, 0xffffffff].
// Threads stride over the elements (grid-stride), so any count fits a bounded dispatch.

struct Params {
  count: u32,
}

const NONE: u32 = 0xffffffffu;

override WG: u32;
override PACKED_F16: bool;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> data: array<u32>;                     // f32 [count], or packed f16 [ceil(count / 2)]
@group(0) @binding(2) var<storage, read_write> result: array<atomic<u32>, 3>;  // [nan, inf, first]

var<workgroup> wg_nan: atomic<u32>;
var<workgroup> wg_inf: atomic<u32>;
var<workgroup> wg_first: atomic<u32>;

// 0: finite, 1: NaN, 2: Inf.
fn classify(element: u32) -> u32 {
  var exp_all = 0x7f800000u;
  var man_mask = 0x007fffffu;
  var bits = 0u;
  if (PACKED_F16) {
    bits = (data[element >> 1u] >> ((element & 1u) * 16u)) & 0xffffu;
    exp_all = 0x7c00u;
    man_mask = 0x03ffu;
  } else {
    bits = data[element];
  }
  if ((bits & exp_all) != exp_all) {
    return 0u;
  }
  return select(2u, 1u, (bits & man_mask) != 0u);
}

@compute @workgroup_size(WG)
fn main(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(local_invocation_index) lid: u32,
  @builtin(num_workgroups) nwg: vec3u,
) {
  if (lid == 0u) {
    atomicStore(&wg_first, NONE);
  }
  workgroupBarrier();

  var nan = 0u;
  var inf = 0u;
  var first = NONE;
  let stride = nwg.x * WG;
  for (var e = gid.x; e < params.count; e += stride) {
    let kind = classify(e);
    if (kind != 0u) {
      first = min(first, e);
      if (kind == 1u) {
        nan++;
      } else {
        inf++;
      }
    }
  }
  if (nan + inf > 0u) {
    atomicAdd(&wg_nan, nan);
    atomicAdd(&wg_inf, inf);
    atomicMin(&wg_first, first);
  }
  workgroupBarrier();

  if (lid == 0u) {
    let n = atomicLoad(&wg_nan);
    let i = atomicLoad(&wg_inf);
    if (n + i > 0u) {
      atomicAdd(&result[0], n);
      atomicAdd(&result[1], i);
      atomicMin(&result[2], atomicLoad(&wg_first));
    }
  }
}
