// TEMPORARY scalar stand-in (replaced by the vectorized conversions of branch i15-convert).
#pragma once
#include <cstdint>
#include <cstring>

#include "optkern/isa_namespace.h"

namespace optkern::OPTKERN_ISA_NAMESPACE {

inline float bits_to_float(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline std::uint32_t float_to_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

inline void load_bfloat16(const std::uint16_t* from, float* to, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) to[i] = bits_to_float(std::uint32_t{from[i]} << 16);
}
inline void store_bfloat16(const float* from, std::uint16_t* to, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    const std::uint32_t u = float_to_bits(from[i]);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
      to[i] = static_cast<std::uint16_t>((u >> 16) & 0x8000u) | 0x7fc0u;
    } else {
      to[i] = static_cast<std::uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    }
  }
}
inline void load_float16(const std::uint16_t* from, float* to, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    _Float16 h;
    std::memcpy(&h, &from[i], 2);
    to[i] = static_cast<float>(h);
  }
}
inline void store_float16(const float* from, std::uint16_t* to, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    const _Float16 h = static_cast<_Float16>(from[i]);
    std::memcpy(&to[i], &h, 2);
  }
}

}  // namespace optkern::OPTKERN_ISA_NAMESPACE
