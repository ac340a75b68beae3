// Exact conversions between float32 and the 16-bit storage types over arrays: float16 (IEEE
// binary16) and bfloat16 (the upper half of a float32). Loads are exact; stores round to nearest
// even, keep subnormals (never flushed) and overflow to ±inf. Every result is bit-identical to
// NumPy's float16 casts and ml_dtypes' bfloat16 casts for every input bit pattern, NaNs included
// (tests/test_conversions.py checks all 2^32 float32 and all 2^16 16-bit patterns per ISA):
// - float32 -> float16 NaN: sign, 0x7c00 and the top 10 mantissa bits, with the lowest bit set if
//   those are all zero, so a signalling NaN stays signalling (NumPy's rule).
// - float16 -> float32 NaN: sign, exponent and the mantissa shifted up; also kept signalling.
// - float32 -> bfloat16 NaN: the canonical quiet NaN 0x7fc0 with the input's sign (ml_dtypes).
// Conversion instructions (F16C, NEON) quiet signalling NaNs, so those paths put NumPy's NaN back
// into NaN lanes with integer operations. Every path leaves the rounding mode alone: F16C gets
// round-to-nearest as an immediate; the others assume the default mode, which Python never
// changes. None of them depends on flush-to-zero or denormals-are-zero either: the float tricks
// below only scale by powers of two, their selected results are normal float32 values, and a
// subnormal float32 input (which DAZ would read as zero) becomes a float16 zero either way.
#pragma once
#include <cstdint>

#include "optkern/isa_namespace.h"
#include "optkern/rounding_hash.h"

// The one place that picks a float16 path per ISA (bfloat16 has one path for all: integer
// rounding in a loop the compiler vectorizes, as no ISA compiled here converts exactly: AVX-512
// BF16's vcvtneps2bf16 flushes subnormals to zero).
#if defined(__F16C__) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
// avx512: F16C's 512-bit forms, 16 lanes, NaN lanes fixed under a mask.
#define OPTKERN_FLOAT16_PATH_AVX512 1
#include <immintrin.h>
#elif defined(__F16C__) && defined(__AVX2__)
// avx2: F16C's 256-bit forms, 8 lanes, NaN lanes fixed with AVX2 integer blends.
#define OPTKERN_FLOAT16_PATH_AVX2 1
#include <immintrin.h>
#elif defined(__aarch64__) && defined(__ARM_NEON)
// aarch64: NEON's fcvtn/fcvtl (part of the baseline), 4 lanes. FPCR's rounding mode is round to
// nearest; the kernels' callers clear FZ and FZ16 (loop.h's KeepSubnormals).
#define OPTKERN_FLOAT16_PATH_NEON 1
#include <arm_neon.h>
#else
// x86-64 baseline (SSE2 has no float16 instruction) and any other CPU: the scalar bit tricks
// below, in a loop the compiler vectorizes (SSE2 on x86-64).
#define OPTKERN_FLOAT16_PATH_PORTABLE 1
#endif

namespace optkern::OPTKERN_ISA_NAMESPACE {
namespace convert_detail {

OPTKERN_INLINE std::uint32_t bits_of(float x) {
  std::uint32_t u;
  __builtin_memcpy(&u, &x, sizeof u);
  return u;
}

OPTKERN_INLINE float float_of(std::uint32_t u) {
  float x;
  __builtin_memcpy(&x, &u, sizeof x);
  return x;
}

// One element of each conversion, branch free so that a loop of them vectorizes. They are the
// whole conversion on the portable path and the tails (n % lanes elements) on the vector paths,
// where they give what the vector body gives (both are exact, with the same NaN rule).

// `condition ? if_true : if_false` without a branch. GCC turns the plain conditional operator into
// a branch around the float arithmetic (which it will not speculate), and then cannot vectorize
// the loop; the mask keeps both sides computed, which is what the vector code does anyway.
OPTKERN_INLINE std::uint32_t select(bool condition, std::uint32_t if_true, std::uint32_t if_false) {
  const std::uint32_t mask = 0u - static_cast<std::uint32_t>(condition);
  return (if_true & mask) | (if_false & ~mask);
}

OPTKERN_INLINE float load_float16_one(std::uint16_t h) {
  const std::uint32_t sign = (std::uint32_t{h} & 0x8000u) << 16;
  const std::uint32_t magnitude = std::uint32_t{h} & 0x7fffu;
  // Normal: exponent and mantissa move up 13 bits and the exponent bias grows from 15 to 127.
  const std::uint32_t normal = (magnitude << 13) + 0x38000000u;
  // Inf and NaN: exponent 31 becomes 255, the payload moves up unchanged (signalling stays so).
  const std::uint32_t special = normal + 0x38000000u;
  // Zero and subnormal: the value is mantissa * 2^-24, exact in float32 (an integer below 2^10
  // times a power of two, whose product is a normal float32).
  const float subnormal = static_cast<float>(static_cast<std::int32_t>(magnitude)) * 0x1p-24f;
  const std::uint32_t bits = select(magnitude < 0x0400u, bits_of(subnormal),
                                    select(magnitude >= 0x7c00u, special, normal));
  return float_of(sign | bits);
}

OPTKERN_INLINE std::uint16_t store_float16_one(float x) {
  const std::uint32_t u = bits_of(x);
  const std::uint32_t sign = (u >> 16) & 0x8000u;
  const std::uint32_t magnitude = u & 0x7fffffffu;
  // Normal result: rebias the exponent (127 -> 15) and drop 13 mantissa bits, rounding to nearest
  // even by adding just under half an ulp plus the kept lowest bit; a carry runs into the
  // exponent, up to 0x7c00 (inf) past the largest half. Wraps for small inputs, not selected then.
  const std::uint32_t normal = (magnitude - 0x38000000u + 0x0fffu + ((magnitude >> 13) & 1u)) >> 13;
  // |x| < 2^-14, below the smallest normal half: the result's bits are |x| * 2^24 rounded to an
  // integer (1024 is the smallest normal, 0x0400). The scaling is exact; adding 2^23 rounds to an
  // integer to nearest even in the default rounding mode, and the sum's low mantissa bits are it.
  const float scaled = float_of(magnitude) * 0x1p24f + 0x1p23f;
  const std::uint32_t subnormal = bits_of(scaled) - 0x4b000000u;
  // NaN: NumPy's rule (see the top of this file).
  const std::uint32_t payload = (magnitude >> 13) & 0x3ffu;
  const std::uint32_t nan = 0x7c00u | payload | static_cast<std::uint32_t>(payload == 0u);
  // |x| >= 2^16, inf included: past any rounding, ±inf.
  const std::uint32_t h = select(
      magnitude < 0x38800000u, subnormal,
      select(magnitude < 0x47800000u, normal, select(magnitude > 0x7f800000u, nan, 0x7c00u)));
  return static_cast<std::uint16_t>(sign | h);
}

OPTKERN_INLINE float load_bfloat16_one(std::uint16_t b) { return float_of(std::uint32_t{b} << 16); }

OPTKERN_INLINE std::uint16_t store_bfloat16_one(float x) {
  const std::uint32_t u = bits_of(x);
  // Round to nearest even on the 16 bits dropped; a carry runs into the exponent (to inf past the
  // largest value). Cannot wrap: the largest non-NaN input, 0xff800000, stays below 2^32.
  const std::uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  const std::uint32_t nan = ((u >> 16) & 0x8000u) | 0x7fc0u;
  return static_cast<std::uint16_t>(select((u & 0x7fffffffu) > 0x7f800000u, nan, rounded));
}

// Stochastic rounding to bfloat16 with `random`'s low 16 bits r: truncate u + r. The 16 bits
// dropped, as a fraction f of a bfloat16 ulp, carry into the kept bits for exactly f * 2^16 of the
// 2^16 values of r, so the result rounds up with probability f: unbiased. Exact values (f = 0)
// never move; a carry runs into the exponent (the largest finite values may round to ±inf, the
// smallest subnormals to the smallest normal: nothing is flushed); ±inf has no bits to drop and
// stays ±inf; no finite input wraps (0xff7fffff + 0xffff < 2^32). NaN: as store_bfloat16_one.
OPTKERN_INLINE std::uint16_t store_bfloat16_stochastic_one(float x, std::uint32_t random) {
  const std::uint32_t u = bits_of(x);
  const std::uint32_t rounded = (u + (random & 0xffffu)) >> 16;
  const std::uint32_t nan = ((u >> 16) & 0x8000u) | 0x7fc0u;
  return static_cast<std::uint16_t>(select((u & 0x7fffffffu) > 0x7f800000u, nan, rounded));
}

// Stochastic rounding to float16 with the random word `random`: x moved onto one of its two
// neighbouring float16 values, as a float32 that store_float16 then converts exactly. The ulp of
// float16 at x decides how many of x's low bits are dropped: 13 where float16 is normal (|x| >=
// 2^-14, float32 exponent 113), one more per binade below, where float16's subnormals are the
// multiples of 2^-24, up to 23 at [2^-24, 2^-23). Those bits, as a fraction f of the ulp, carry
// into the kept bits for exactly f of the 2^dropped values of random's low bits: the result
// rounds away from zero with probability f, unbiased. |x| < 2^-24 (all of the significand below
// the ulp) becomes ±2^-24 when random's low 24 bits, as a float, are below |x| * 2^48 (both
// exact), else ±0: probability ceil(|x| * 2^48) / 2^24, unbiased to within 2^-24 of the ulp. A
// carry past 65504 gives 65536, which store_float16 turns into ±inf (with probability
// (|x| - 65504) / 32; nearest rounding does so from 65520); ±inf and NaN are left as they are.
OPTKERN_INLINE float float16_stochastic_grid_one(float x, std::uint32_t random) {
  const std::uint32_t u = bits_of(x);
  const std::uint32_t magnitude = u & 0x7fffffffu;
  const std::uint32_t exponent = magnitude >> 23;
  // 126 - exponent wraps above 126 and 23 stands in below 103: neither is selected then.
  const std::uint32_t dropped =
      select(exponent >= 113u, 13u, select(exponent >= 103u, 126u - exponent, 23u));
  const std::uint32_t mask = (1u << dropped) - 1u;
  const std::uint32_t truncated = (u + (random & mask)) & ~mask;
  const bool up = static_cast<float>(static_cast<std::int32_t>(random & 0xffffffu)) <
                  float_of(magnitude) * 0x1p48f;
  const std::uint32_t tiny = (u & 0x80000000u) | select(up, 0x33800000u, 0u);
  return float_of(
      select(magnitude > 0x7f800000u, u, select(magnitude < 0x33800000u, tiny, truncated)));
}

#if OPTKERN_FLOAT16_PATH_AVX512
constexpr std::int64_t kFloat16Lanes = 16;
// Every lane. The zero-masked forms of the intrinsics below, under this mask, compile to the plain
// instructions; the plain forms start from _mm512_undefined_*(), which GCC 12 reports as
// maybe-uninitialized (GCC bug 105593), an error under -Werror.
constexpr __mmask16 kAll = 0xffff;

OPTKERN_INLINE void load_float16_block(const std::uint16_t* from, float* to) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(from));
  const __m512i bits = _mm512_castps_si512(_mm512_maskz_cvtph_ps(kAll, h));
  // vcvtph2ps sets the quiet bit (22) of a signalling NaN; NumPy keeps the half's bit 9 there.
  const __m512i wide = _mm512_maskz_cvtepu16_epi32(kAll, h);
  const __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(wide, _mm512_set1_epi32(0x7fff)),
                                                _mm512_set1_epi32(0x7c00));
  const __mmask16 signalling = _mm512_mask_testn_epi32_mask(nan, wide, _mm512_set1_epi32(0x0200));
  const __m512i numpy =
      _mm512_mask_andnot_epi32(bits, signalling, _mm512_set1_epi32(0x00400000), bits);
  _mm512_storeu_si512(to, numpy);
}

OPTKERN_INLINE void store_float16_block(const float* from, std::uint16_t* to) {
  const __m512 x = _mm512_loadu_ps(from);
  const __m256i h = _mm512_maskz_cvtps_ph(kAll, x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // vcvtps2ph quiets signalling NaNs; NaN lanes get NumPy's half instead.
  const __m512i u = _mm512_castps_si512(x);
  const __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                                _mm512_set1_epi32(0x7f800000));
  const __m512i payload =
      _mm512_and_si512(_mm512_maskz_srli_epi32(kAll, u, 13), _mm512_set1_epi32(0x3ff));
  const __m512i sign =
      _mm512_and_si512(_mm512_maskz_srli_epi32(kAll, u, 16), _mm512_set1_epi32(0x8000));
  __m512i numpy = _mm512_or_si512(_mm512_or_si512(sign, payload), _mm512_set1_epi32(0x7c00));
  numpy = _mm512_mask_or_epi32(numpy, _mm512_testn_epi32_mask(payload, payload), numpy,
                               _mm512_set1_epi32(1));
  const __m256i result = _mm256_mask_blend_epi16(nan, h, _mm512_maskz_cvtepi32_epi16(kAll, numpy));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(to), result);
}
#elif OPTKERN_FLOAT16_PATH_AVX2
constexpr std::int64_t kFloat16Lanes = 8;

OPTKERN_INLINE void load_float16_block(const std::uint16_t* from, float* to) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(from));
  const __m256 x = _mm256_cvtph_ps(h);
  // vcvtph2ps sets the quiet bit (22) of a signalling NaN; NumPy keeps the half's bit 9 there:
  // clear bit 22 in NaN lanes whose bit 9 was clear.
  const __m256i wide = _mm256_cvtepu16_epi32(h);
  const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(wide, _mm256_set1_epi32(0x7fff)),
                                         _mm256_set1_epi32(0x7c00));
  const __m256i clear = _mm256_andnot_si256(_mm256_slli_epi32(wide, 13),
                                            _mm256_and_si256(nan, _mm256_set1_epi32(0x00400000)));
  _mm256_storeu_ps(to, _mm256_andnot_ps(_mm256_castsi256_ps(clear), x));
}

OPTKERN_INLINE void store_float16_block(const float* from, std::uint16_t* to) {
  const __m256 x = _mm256_loadu_ps(from);
  const __m128i h = _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // vcvtps2ph quiets signalling NaNs; NaN lanes get NumPy's half instead, computed in 32-bit
  // lanes and narrowed (every value fits in 16 bits, so the saturating packs are exact).
  const __m256i u = _mm256_castps_si256(x);
  const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)),
                                         _mm256_set1_epi32(0x7f800000));
  const __m256i payload = _mm256_and_si256(_mm256_srli_epi32(u, 13), _mm256_set1_epi32(0x3ff));
  const __m256i sign = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x8000));
  const __m256i empty =
      _mm256_and_si256(_mm256_cmpeq_epi32(payload, _mm256_setzero_si256()), _mm256_set1_epi32(1));
  const __m256i numpy = _mm256_or_si256(_mm256_or_si256(sign, payload),
                                        _mm256_or_si256(empty, _mm256_set1_epi32(0x7c00)));
  const __m128i numpy16 =
      _mm_packus_epi32(_mm256_castsi256_si128(numpy), _mm256_extracti128_si256(numpy, 1));
  const __m128i nan16 =
      _mm_packs_epi32(_mm256_castsi256_si128(nan), _mm256_extracti128_si256(nan, 1));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(to), _mm_blendv_epi8(h, numpy16, nan16));
}
#elif OPTKERN_FLOAT16_PATH_NEON
constexpr std::int64_t kFloat16Lanes = 4;

OPTKERN_INLINE void load_float16_block(const std::uint16_t* from, float* to) {
  const uint16x4_t h = vld1_u16(from);
  const uint32x4_t bits = vreinterpretq_u32_f32(vcvt_f32_f16(vreinterpret_f16_u16(h)));
  // fcvtl sets the quiet bit (22) of a signalling NaN; NumPy keeps the half's bit 9 there: clear
  // bit 22 in NaN lanes whose bit 9 was clear.
  const uint32x4_t wide = vmovl_u16(h);
  const uint32x4_t nan = vcgtq_u32(vandq_u32(wide, vdupq_n_u32(0x7fff)), vdupq_n_u32(0x7c00));
  const uint32x4_t clear =
      vbicq_u32(vandq_u32(nan, vdupq_n_u32(0x00400000)), vshlq_n_u32(wide, 13));
  vst1q_f32(to, vreinterpretq_f32_u32(vbicq_u32(bits, clear)));
}

OPTKERN_INLINE void store_float16_block(const float* from, std::uint16_t* to) {
  const float32x4_t x = vld1q_f32(from);
  const uint16x4_t h = vreinterpret_u16_f16(vcvt_f16_f32(x));
  // fcvtn quiets signalling NaNs; NaN lanes get NumPy's half instead.
  const uint32x4_t u = vreinterpretq_u32_f32(x);
  const uint32x4_t nan = vcgtq_u32(vandq_u32(u, vdupq_n_u32(0x7fffffff)), vdupq_n_u32(0x7f800000));
  const uint32x4_t payload = vandq_u32(vshrq_n_u32(u, 13), vdupq_n_u32(0x3ff));
  const uint32x4_t sign = vandq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(0x8000));
  const uint32x4_t empty = vandq_u32(vceqq_u32(payload, vdupq_n_u32(0)), vdupq_n_u32(1));
  const uint32x4_t numpy =
      vorrq_u32(vorrq_u32(sign, payload), vorrq_u32(empty, vdupq_n_u32(0x7c00)));
  vst1_u16(to, vbsl_u16(vmovn_u32(nan), vmovn_u32(numpy), h));
}
#endif

}  // namespace convert_detail

// from[i] -> to[i] for i < n (n >= 0; arrays need no alignment beyond their element type's).

inline void load_float16(const std::uint16_t* from, float* to, std::int64_t n) {
  std::int64_t i = 0;
#if !OPTKERN_FLOAT16_PATH_PORTABLE
  for (; i + convert_detail::kFloat16Lanes <= n; i += convert_detail::kFloat16Lanes) {
    convert_detail::load_float16_block(from + i, to + i);
  }
#endif
#pragma omp simd
  for (std::int64_t j = i; j < n; ++j) to[j] = convert_detail::load_float16_one(from[j]);
}

inline void load_bfloat16(const std::uint16_t* from, float* to, std::int64_t n) {
#pragma omp simd
  for (std::int64_t i = 0; i < n; ++i) to[i] = convert_detail::load_bfloat16_one(from[i]);
}

inline void store_float16(const float* from, std::uint16_t* to, std::int64_t n) {
  std::int64_t i = 0;
#if !OPTKERN_FLOAT16_PATH_PORTABLE
  for (; i + convert_detail::kFloat16Lanes <= n; i += convert_detail::kFloat16Lanes) {
    convert_detail::store_float16_block(from + i, to + i);
  }
#endif
#pragma omp simd
  for (std::int64_t j = i; j < n; ++j) to[j] = convert_detail::store_float16_one(from[j]);
}

inline void store_bfloat16(const float* from, std::uint16_t* to, std::int64_t n) {
#pragma omp simd
  for (std::int64_t i = 0; i < n; ++i) to[i] = convert_detail::store_bfloat16_one(from[i]);
}

// Calls piece(i, m, lo, k2_hi) for consecutive pieces [i, i + m) of n elements (at most
// max_piece each) of a tensor's elements first + i: pieces that do not cross a multiple of 2^32
// elements, so that within each the element's upper half is constant (folded into k2_hi =
// k2 ^ e_hi) and its lower half is lo + j (rounding_hash.h has the whole function).
template <class Piece>
OPTKERN_INLINE void for_each_hash_piece(std::int64_t n, std::int64_t first,
                                        const std::uint32_t key[2], std::int64_t max_piece,
                                        const Piece& piece) {
  for (std::int64_t i = 0; i < n;) {
    const auto element = static_cast<std::uint64_t>(first + i);
    const auto lo = static_cast<std::uint32_t>(element);
    const std::uint32_t k2_hi = key[1] ^ static_cast<std::uint32_t>(element >> 32);
    const auto room = static_cast<std::int64_t>((std::uint64_t{1} << 32) - lo);
    std::int64_t m = n - i < room ? n - i : room;
    m = m < max_piece ? m : max_piece;
    piece(i, m, lo, k2_hi);
    i += m;
  }
}

// from[i] -> to[i] rounded stochastically, for the elements first + i of a tensor whose role keys
// are key = (k1, k2). One scalar function per element in a `#pragma omp simd` loop, which GCC
// vectorizes (vpmulld on AVX2 and AVX-512).
inline void store_bfloat16_stochastic(const float* from, std::uint16_t* to, std::int64_t n,
                                      const std::uint32_t key[2], std::int64_t first) {
  const std::uint32_t k1 = key[0];
  for_each_hash_piece(
      n, first, key, n, [&](std::int64_t i, std::int64_t m, std::uint32_t lo, std::uint32_t k2_hi) {
        const float* piece_from = from + i;
        std::uint16_t* piece_to = to + i;
#pragma omp simd
        for (std::int64_t j = 0; j < m; ++j) {
          const std::uint32_t word = rounding_word(k1, k2_hi, lo + static_cast<std::uint32_t>(j));
          piece_to[j] = convert_detail::store_bfloat16_stochastic_one(piece_from[j], word);
        }
      });
}

// from[i] -> to[i] rounded stochastically to float16, with the random words of
// store_bfloat16_stochastic (all 32 bits may be read). The values are first moved onto the float16
// grid (float16_stochastic_grid_one) through a small float32 buffer, which store_float16 then
// converts exactly with its vector path.
inline void store_float16_stochastic(const float* from, std::uint16_t* to, std::int64_t n,
                                     const std::uint32_t key[2], std::int64_t first) {
  constexpr std::int64_t kPiece = 256;
  alignas(64) float grid[kPiece];
  const std::uint32_t k1 = key[0];
  for_each_hash_piece(
      n, first, key, kPiece,
      [&](std::int64_t i, std::int64_t m, std::uint32_t lo, std::uint32_t k2_hi) {
        const float* piece_from = from + i;
#pragma omp simd
        for (std::int64_t j = 0; j < m; ++j) {
          const std::uint32_t word = rounding_word(k1, k2_hi, lo + static_cast<std::uint32_t>(j));
          grid[j] = convert_detail::float16_stochastic_grid_one(piece_from[j], word);
        }
        store_float16(grid, to + i, m);
      });
}

}  // namespace optkern::OPTKERN_ISA_NAMESPACE
