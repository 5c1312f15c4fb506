// weight-words: the u32 words of a weight buffer in either storage dtype, for kernels that read
// or write weights one word at a time. Appended to those kernels' source (see weight-words.ts);
// WGSL module-scope declarations may follow their use, so the kernel's own line numbers stand.
//
//   PACKED_F16 = false: one f32 per word (bitcast); a word's values are (v, 0).
//   PACKED_F16 = true:  two f16 per word, element 2k in the low half, 2k+1 in the high half; an
//                       odd element count pads the last word's high half, which writes keep.

override PACKED_F16: bool;

// Words of a weight of `count` elements.
fn weight_words(count: u32) -> u32 {
  return select(count, (count + 1u) / 2u, PACKED_F16);
}

// Index of the first element of word `word`.
fn word_first(word: u32) -> u32 {
  return select(word, 2u * word, PACKED_F16);
}

// Elements word `word` of a weight of `count` elements holds: 1, or 2 in packed f16.
fn word_elements(word: u32, count: u32) -> u32 {
  return select(1u, min(2u, count - 2u * word), PACKED_F16);
}

// The word holding element `e`, and its lane in that word's values.
fn word_of(e: u32) -> u32 {
  return select(e, e >> 1u, PACKED_F16);
}

fn lane_of(e: u32) -> u32 {
  return select(0u, e & 1u, PACKED_F16);
}

fn word_unpack(w: u32) -> vec2f {
  if (PACKED_F16) {
    return unpack2x16float(w);
  }
  return vec2f(bitcast<f32>(w), 0.0);
}

// The word holding values `v` (`n` of them); with n = 1 in packed f16 the high half keeps `old`'s bits.
fn word_pack(v: vec2f, n: u32, old: u32) -> u32 {
  if (!PACKED_F16) {
    return bitcast<u32>(v.x);
  }
  let p = pack2x16float(v);
  return select((p & 0xffffu) | (old & 0xffff0000u), p, n == 2u);
}
