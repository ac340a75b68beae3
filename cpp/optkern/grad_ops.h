// The gradient kernels of one ISA, behind optkern.clip_grad_norm_, get_total_norm,
// clip_grad_value_ and the statistics pass of a step with max_grad_norm=/grad_scale=
// (cpp/grad_stats.cpp): a norm's per-block partials, and in-place scaling and clamping. Each runs
// over the blocks of a GradCall in one OpenMP team, each block wholly on one thread.
//
// A norm's partial depends only on the block's elements: kNormLanes float64 lanes, lane j the sum
// (or maximum) of elements j, j + kNormLanes, ... in index order, then combined pairwise (lane j
// with lane j + kNormLanes / 2, then with j + kNormLanes / 4, ..., + 1). Every lane's operations
// are the same IEEE float64 operations on every ISA
// (-ffp-contract=off: no fused multiply-add), whatever the vector width, so a partial is too.
// Squares of float32 and 16-bit values are exact in float64.
#pragma once
#include <cstdint>
#include <type_traits>

#include "optkern/averaging.h"
#include "optkern/convert.h"
#include "optkern/grad_call.h"
#include "optkern/isa_namespace.h"
#include "optkern/loop.h"

#if OPTKERN_HAVE_OPENMP
#include <omp.h>
#endif

namespace optkern::OPTKERN_ISA_NAMESPACE {

// Runs body(block) for every block of the call, blocks split among call.threads threads.
template <class Body>
void for_each_block(const GradCall& call, const Body& body) {
#if OPTKERN_HAVE_OPENMP
  if (call.threads > 1) {
#pragma omp parallel num_threads(call.threads)
    {
      const KeepSubnormals keep;  // as the step's kernels: no flushed subnormal in any thread
#pragma omp for schedule(static)
      for (std::int64_t b = 0; b < call.count; ++b) body(b);
    }
    return;
  }
#endif
  const KeepSubnormals keep;
  for (std::int64_t b = 0; b < call.count; ++b) body(b);
}

// Tags for the 16-bit storage types, whose elements are std::uint16_t bits.
struct Float16Bits {};
struct BFloat16Bits {};

// Calls visit(tag) with a value of the block's storage type (float, double) or tag (16-bit).
template <class Visit>
inline void with_storage(DType dtype, const Visit& visit) {
  switch (dtype) {
    case kFloat32:
      visit(float{});
      break;
    case kFloat64:
      visit(double{});
      break;
    case kFloat16:
      visit(Float16Bits{});
      break;
    case kBFloat16:
      visit(BFloat16Bits{});
      break;
  }
}

template <class Storage>
constexpr bool kSixteenBit =
    std::is_same_v<Storage, Float16Bits> || std::is_same_v<Storage, BFloat16Bits>;

// n (<= kNormBlock) 16-bit elements as float32, exactly.
template <class Storage>
inline void load_sixteen_bit(const void* data, float* out, std::int64_t n) {
  const auto* bits = static_cast<const std::uint16_t*>(data);
  if constexpr (std::is_same_v<Storage, Float16Bits>) {
    load_float16(bits, out, n);
  } else {
    load_bfloat16(bits, out, n);
  }
}

// The kNormLanes float64 lanes of a norm as kAccumulators native vectors (GCC/Clang vector
// types of this ISA's width: 8 doubles for AVX-512, 4 for AVX2, 2 for SSE2 and NEON), accumulator
// k holding lanes [k * width, (k + 1) * width): the compiler keeps each in a register and applies
// every operation lane by lane, so every ISA performs the same IEEE operations on the same lanes.
// (A plain array of lanes, or one vector type of all of them, stayed in memory: a load-add-store
// round trip per row of lanes, and the pass ran at half of memory speed.) 32 lanes give AVX2 8 and
// AVX-512 4 independent additions in flight, enough to hide their latency; 16 lanes were 1.4x
// slower in cache.
#if defined(__AVX512F__)
constexpr int kDoubleWidth = 8;
#elif defined(__AVX__)
constexpr int kDoubleWidth = 4;
#else
constexpr int kDoubleWidth = 2;
#endif
constexpr int kAccumulators = kNormLanes / kDoubleWidth;
static_assert(kNormLanes % kDoubleWidth == 0, "the lanes split into whole vectors");
using DoubleVector = double __attribute__((vector_size(kDoubleWidth * sizeof(double))));
using FloatVector = float __attribute__((vector_size(kDoubleWidth * sizeof(float))));

// |x| as a compare and select, the same for a lane and for a scalar (a -0.0 kept as it is adds
// and compares as +0.0 would).
template <class T>
inline T magnitude(T x) {
  return x < 0 ? -x : x;
}

template <NormKind kKind, class T>
inline T norm_combine_lanes(T lane, T x) {
  if constexpr (kKind == kNormTwo) {
    return lane + x * x;
  } else if constexpr (kKind == kNormOne) {
    return lane + magnitude(x);
  } else {
    // The larger, and NaN once either is NaN (torch's inf-norm of a NaN is NaN).
    const T a = magnitude(x);
    return ((a > lane) | (a != a)) ? a : lane;
  }
}

// Elements [i, i + kDoubleWidth) as float64.
template <class Storage>
inline DoubleVector load_vector(const Storage* x, std::int64_t i) {
  if constexpr (std::is_same_v<Storage, double>) {
    DoubleVector v;
    __builtin_memcpy(&v, x + i, sizeof v);
    return v;
  } else {
    FloatVector v;
    __builtin_memcpy(&v, x + i, sizeof v);
    return __builtin_convertvector(v, DoubleVector);
  }
}

template <NormKind kKind, class Storage>
inline double norm_of_elements(const Storage* x, std::int64_t n) {
  DoubleVector accumulator[kAccumulators] = {};
  const std::int64_t whole = n - n % kNormLanes;
  for (std::int64_t i = 0; i < whole; i += kNormLanes) {
#pragma GCC unroll 16
    for (int k = 0; k < kAccumulators; ++k) {
      accumulator[k] =
          norm_combine_lanes<kKind>(accumulator[k], load_vector(x, i + k * kDoubleWidth));
    }
  }
  double lane[kNormLanes];
  __builtin_memcpy(lane, accumulator, sizeof lane);
  for (std::int64_t i = whole; i < n; ++i) {
    const auto j = static_cast<int>(i - whole);
    lane[j] = norm_combine_lanes<kKind>(lane[j], static_cast<double>(x[i]));
  }
  for (int width = kNormLanes / 2; width >= 1; width /= 2) {
    for (int j = 0; j < width; ++j) {
      lane[j] = kKind == kNormInf ? norm_combine_lanes<kNormInf>(lane[j], lane[j + width])
                                  : lane[j] + lane[j + width];
    }
  }
  return lane[0];
}

// The partial of one block (16-bit elements through float32, exactly).
template <NormKind kKind, class Storage>
inline double norm_of_block(const void* data, std::int64_t n) {
  if constexpr (kSixteenBit<Storage>) {
    alignas(kCacheLineBytes) float wide[kNormBlock];
    load_sixteen_bit<Storage>(data, wide, n);
    return norm_of_elements<kKind>(static_cast<const float*>(wide), n);
  } else {
    return norm_of_elements<kKind>(static_cast<const Storage*>(data), n);
  }
}

// Whether every element of the block is finite. Read off the partial where only a non-finite
// element can make it non-finite: float32 and 16-bit squares cannot overflow a float64 sum of
// kNormBlock of them, and a maximum does not overflow; float64 sums can, so such a block is looked
// at element by element.
template <NormKind kKind, class Storage>
inline bool block_is_finite(const void* data, std::int64_t n, double partial) {
  if (partial - partial == 0) return true;
  if (!std::is_same_v<Storage, double> || kKind == kNormInf) return false;
  const auto* x = static_cast<const double*>(data);
  for (std::int64_t i = 0; i < n; ++i) {
    if (!(x[i] - x[i] == 0)) return false;
  }
  return true;
}

// Per block of the call: its partial and whether it is finite (GradCall::partials, ::finite).
template <NormKind kKind>
void grad_norm(const GradCall& call) {
  for_each_block(call, [&](std::int64_t b) {
    const GradBlock& block = call.blocks[b];
    with_storage(block.dtype, [&](auto storage) {
      using Storage = decltype(storage);
      const double partial = norm_of_block<kKind, Storage>(block.data, block.n);
      call.partials[b] = partial;
      call.finite[b] = block_is_finite<kKind, Storage>(block.data, block.n, partial) ? 1 : 0;
    });
  });
}

// x = op(x, operand) for every element, in the block's arithmetic type (float32 for 16-bit
// storage, whose results round to nearest even on the way back).
template <class Op>
void transform_in_place(const GradCall& call, const Op& op) {
  for_each_block(call, [&](std::int64_t b) {
    const GradBlock& block = call.blocks[b];
    const std::int64_t n = block.n;
    with_storage(block.dtype, [&](auto storage) {
      using Storage = decltype(storage);
      if constexpr (kSixteenBit<Storage>) {
        alignas(kCacheLineBytes) float x[kNormBlock];
        load_sixteen_bit<Storage>(block.data, x, n);
        const auto operand = static_cast<float>(call.operand);
#pragma omp simd
        for (std::int64_t i = 0; i < n; ++i) x[i] = op(x[i], operand);
        auto* bits = static_cast<std::uint16_t*>(block.data);
        if constexpr (std::is_same_v<Storage, Float16Bits>) {
          store_float16(x, bits, n);
        } else {
          store_bfloat16(x, bits, n);
        }
      } else {
        auto* x = static_cast<Storage*>(block.data);
        const auto operand = static_cast<Storage>(call.operand);
#pragma omp simd
        for (std::int64_t i = 0; i < n; ++i) x[i] = op(x[i], operand);
      }
    });
  });
}

// The element operations as named types, not generic lambdas: the OpenMP outlined functions'
// symbols then demangle (binutils cannot demangle a generic lambda's type in a template argument),
// which tests/test_portability.py needs to tell the ISAs' code apart.
struct Multiply {
  template <class T>
  T operator()(T x, T factor) const {
    return x * factor;
  }
};
struct Clamp {  // NaN stays NaN, as in torch.clamp_
  template <class T>
  T operator()(T x, T bound) const {
    const T low = -bound;
    return x < low ? low : (x > bound ? bound : x);
  }
};

struct Accumulate {
  template <class T>
  T operator()(T sum, T value, T scale) const {
    return accumulate_element(sum, value, scale);
  }
};
struct EmaLerp {
  template <class T>
  T operator()(T average, T value, T weight) const {
    return ema_element(average, value, weight);
  }
};

// n elements of a 16-bit array as float32 into `out`, or a float32 array where it is.
inline const float* as_float(DType dtype, const void* data, float* out, std::int64_t n) {
  if (dtype == kFloat32) return static_cast<const float*>(data);
  const auto* bits = static_cast<const std::uint16_t*>(data);
  if (dtype == kFloat16) {
    load_float16(bits, out, n);
  } else {
    load_bfloat16(bits, out, n);
  }
  return out;
}

// x = op(x, source, operand) for every element: the two-array kernels. float64 data has a float64
// source; any other data and source compute in float32 (16-bit data stored back rounded to
// nearest even).
template <class Op>
void combine_in_place(const GradCall& call, const Op& op) {
  for_each_block(call, [&](std::int64_t b) {
    const GradBlock& block = call.blocks[b];
    const std::int64_t n = block.n;
    if (block.dtype == kFloat64) {
      auto* x = static_cast<double*>(block.data);
      const auto* source = static_cast<const double*>(block.source);
      const double operand = call.operand;
      const std::int64_t head = aligned_head(x, n);
      for (std::int64_t i = 0; i < head; ++i) x[i] = op(x[i], source[i], operand);
#pragma omp simd
      for (std::int64_t i = head; i < n; ++i) x[i] = op(x[i], source[i], operand);
      return;
    }
    alignas(kCacheLineBytes) float data_block[kNormBlock];
    alignas(kCacheLineBytes) float source_block[kNormBlock];
    auto* x = block.dtype == kFloat32
                  ? static_cast<float*>(block.data)
                  : const_cast<float*>(as_float(block.dtype, block.data, data_block, n));
    const float* source = as_float(block.source_dtype, block.source, source_block, n);
    const auto operand = static_cast<float>(call.operand);
    const std::int64_t head = aligned_head(x, n);
    for (std::int64_t i = 0; i < head; ++i) x[i] = op(x[i], source[i], operand);
#pragma omp simd
    for (std::int64_t i = head; i < n; ++i) x[i] = op(x[i], source[i], operand);
    auto* bits = static_cast<std::uint16_t*>(block.data);
    if (block.dtype == kFloat16) store_float16(x, bits, n);
    if (block.dtype == kBFloat16) store_bfloat16(x, bits, n);
  });
}

// optkern.accumulate: sum += value * scale.
inline void accumulate(const GradCall& call) { combine_in_place(call, Accumulate{}); }

// optkern.EMA.update: average = lerp(average, value, weight).
inline void ema_update(const GradCall& call) { combine_in_place(call, EmaLerp{}); }

// clip_grad_norm_'s in-place multiply by the clip coefficient.
inline void scale_grads(const GradCall& call) { transform_in_place(call, Multiply{}); }

// clip_grad_value_: each element clamped to [-bound, bound].
inline void clamp_grads(const GradCall& call) { transform_in_place(call, Clamp{}); }

}  // namespace optkern::OPTKERN_ISA_NAMESPACE
