// The random bits of stochastic rounding (rounding="stochastic"): a counter-based hash, not a
// random stream, so that every element's bits depend only on where it is (seed, step, tensor,
// role, element) and never on the thread, the ISA, the vector width or the block that stores it.
// optkern.reference (_mix32, rounding_keys, random_words) computes the same function in NumPy.
//
// The function, all arithmetic on uint32 modulo 2^32:
//   mix32(x):  x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16
//     (Chris Wellons' "lowbias32" integer finalizer from his hash prospector; a bijection)
//   per param group and step, from the 64-bit seed and the 1-based step number:
//     s = mix32(0x9e3779b9 ^ seed_lo); s = mix32(s ^ seed_hi);
//     s = mix32(s ^ step_lo);          s = mix32(s ^ step_hi)
//   per tensor (its flat index among the optimizer's parameters, below 2^32):
//     t = mix32(s ^ tensor)
//   per role of that tensor (0 the parameter, 2.. the states):
//     k1 = mix32(t ^ role);  k2 = mix32(k1 ^ 0x85ebca6b)
//   per element e = e_hi * 2^32 + e_lo (its index in the tensor):
//     word = mix32(mix32(k1 ^ e_lo) ^ k2 ^ e_hi)
// and the element rounds with r = word & 0xffff to bfloat16 (convert.h, store_bfloat16_stochastic),
// or with the word's low bits below float16's ulp to float16 (store_float16_stochastic).
//
// Why two rounds per element: with one, mix32(k1 ^ e), two keys that differ only in their low
// bits would give two tensors (or two steps) the same random values on elements paired by
// e' = e ^ k1 ^ k1'; the second round, keyed by k2 (a bijection of k1, so different whenever k1
// is), separates them. Only 32-bit multiplies, xors and shifts per element, so the element loop
// vectorizes on every ISA (SSE4.1/AVX2 vpmulld, AVX-512 vpmulld zmm; SSE2 emulates it).
//
// Included by the per-ISA kernels (convert.h) and by the baseline TensorGroup (the per-step keys):
// the unnamed namespace gives each translation unit its own copy, so the linker never merges an
// AVX2-compiled copy into the baseline code (see isa_namespace.h).
#pragma once
#include <cstdint>

namespace optkern {
namespace {

constexpr std::uint32_t mix32(std::uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

// s: the key of one param group's step.
constexpr std::uint32_t rounding_step_key(std::uint64_t seed, std::uint64_t step) {
  std::uint32_t s = mix32(0x9e3779b9u ^ static_cast<std::uint32_t>(seed));
  s = mix32(s ^ static_cast<std::uint32_t>(seed >> 32));
  s = mix32(s ^ static_cast<std::uint32_t>(step));
  return mix32(s ^ static_cast<std::uint32_t>(step >> 32));
}

// t: one tensor's key within the step.
constexpr std::uint32_t rounding_tensor_key(std::uint32_t step_key, std::uint32_t tensor) {
  return mix32(step_key ^ tensor);
}

// (k1, k2) of one role of the tensor.
inline void rounding_role_keys(std::uint32_t tensor_key, int role, std::uint32_t out[2]) {
  out[0] = mix32(tensor_key ^ static_cast<std::uint32_t>(role));
  out[1] = mix32(out[0] ^ 0x85ebca6bu);
}

// The random word of element (e_hi * 2^32 + e_lo); k2_hi is k2 ^ e_hi.
constexpr std::uint32_t rounding_word(std::uint32_t k1, std::uint32_t k2_hi, std::uint32_t e_lo) {
  return mix32(mix32(k1 ^ e_lo) ^ k2_hi);
}

}  // namespace
}  // namespace optkern
