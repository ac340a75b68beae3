// Memory ceilings, for benchmarks only (bench/cpp/kernel_benchmark.cpp, and Python's
// optkern._core._same_traffic_step behind bench/ and `optkern bench`): loops that move exactly the
// bytes of an algorithm and do no math, through the same run_plan (same threads, parts and
// alignment peeling) as the kernels, compiled per ISA with them. A kernel is judged by its
// percentage of the ceiling with the same traffic, measured in the same run.
#pragma once
#include <cstdint>

#include "optkern/config.h"
#include "optkern/isa_namespace.h"
#include "optkern/loop.h"
#include "optkern/work_plan.h"

namespace optkern::OPTKERN_ISA_NAMESPACE {

// Reads param, grad and kStates states; writes param and the states in place: the traffic of an
// algorithm with kStates state arrays (Adam: 2, so 7 arrays moved). One add per written array keeps
// the compiler from dropping any load or store; the values only grow linearly, so no subnormals
// appear however long a benchmark runs.
namespace ceiling_detail {

// One array's element in a 16-bit-storage ceiling: the 16-bit arrays are moved as their bits
// (std::uint16_t), the float32 ones as floats; `add` is one operation that reads both operands.
// The integer sums wrap, harmlessly: the ceiling's arrays are its own and nothing reads them as
// numbers.
template <class T>
inline T add(T to, T g) {
  return to + g;
}
inline float add(float to, std::uint16_t g) { return to + static_cast<float>(g); }
inline std::uint16_t add(std::uint16_t to, std::uint16_t g) {
  return static_cast<std::uint16_t>(to + g);
}
inline std::uint16_t add(std::uint16_t to, float g) {
  std::uint32_t bits;
  __builtin_memcpy(&bits, &g, sizeof bits);
  return static_cast<std::uint16_t>(to + (bits >> 16));
}

// The traffic of one segment of a converted step whose param, grad and states are stored as P, G
// and S (float or std::uint16_t); with kRounded, the 16-bit parameter a master copy is rounded
// into is written too. Peels to the parameter's cache line (loop.h aligned_head), as run_segment
// does. `states` holds the kStates bound state arrays (whichever roles they have).
template <class P, class G, class S, int kStates, bool kRounded>
void segment_traffic(void* const* arrays, void* const* states, void* rounded, std::int64_t begin,
                     std::int64_t end) {
  P* const p = static_cast<P*>(arrays[kParamRole]);
  const G* const g = static_cast<const G*>(arrays[kGradRole]);
  S* const s0 = static_cast<S*>(states[0]);
  S* const s1 = static_cast<S*>(states[1]);
  S* const s2 = static_cast<S*>(states[2]);
  auto* const r = static_cast<std::uint16_t*>(rounded);
  const auto element = [&](std::int64_t i) {
    const P updated = add(p[i], g[i]);
    p[i] = updated;
    if constexpr (kStates > 0) s0[i] = add(s0[i], g[i]);
    if constexpr (kStates > 1) s1[i] = add(s1[i], g[i]);
    if constexpr (kStates > 2) s2[i] = add(s2[i], g[i]);
    if constexpr (kRounded) r[i] = add(std::uint16_t{0}, updated);
  };
  const std::int64_t head = begin + aligned_head(p + begin, end - begin);
  for (std::int64_t i = begin; i < head; ++i) element(i);
#pragma omp simd
  for (std::int64_t i = head; i < end; ++i) element(i);
}

// segment_traffic for the storage of `storage`, each of its roles 16-bit or float32.
template <int kStates>
void converted_segment_traffic(void* const* arrays, const TensorStorage& storage,
                               std::int64_t begin, std::int64_t end) {
  const auto wide = [&](int role) { return storage.role[role] == kStoredFloat32; };
  // The bound states, in role order (an algorithm's optional states need not come last). They
  // share one storage type: state_dtype is per group.
  void* states[3] = {nullptr, nullptr, nullptr};
  int bound = 0;
  for (int role = 2; role < kMaxArrays && bound < kStates; ++role) {
    if (storage.role[role] != kUnbound) states[bound++] = arrays[role];
  }
  if (bound != kStates) __builtin_trap();  // the binding counted the same roles
  const bool wide_state = kStates == 0 || storage.role[2] == kStoredFloat32 ||
                          storage.role[3] == kStoredFloat32 || storage.role[4] == kStoredFloat32;
  const auto run = [&](auto p, auto g, auto s) {
    using P = decltype(p);
    using G = decltype(g);
    using S = decltype(s);
    if (storage.rounded_param != nullptr) {
      segment_traffic<P, G, S, kStates, true>(arrays, states, storage.rounded_param, begin, end);
    } else {
      segment_traffic<P, G, S, kStates, false>(arrays, states, nullptr, begin, end);
    }
  };
  const auto with_state = [&](auto p, auto g) {
    if (wide_state) {
      run(p, g, float{});
    } else {
      run(p, g, std::uint16_t{});
    }
  };
  const auto with_grad = [&](auto p) {
    if (wide(kGradRole)) {
      with_state(p, float{});
    } else {
      with_state(p, std::uint16_t{});
    }
  };
  if (wide(kParamRole)) {
    with_grad(float{});
  } else {
    with_grad(std::uint16_t{});
  }
}

}  // namespace ceiling_detail

// Reads param, grad and kStates states; writes param and the states in place: the traffic of an
// algorithm with kStates state arrays (Adam: 2, so 7 arrays moved), in T. One add per written
// array keeps the compiler from dropping any load or store; the values only grow linearly, so no
// subnormals appear however long a benchmark runs. The states are the bound ones, whichever
// roles they have (RMSprop centered without momentum: roles 2 and 4): a role a tensor group does
// not bind points at the parameter (TensorGroup::pointer_table).
template <int kStates, class T>
void same_traffic(const StepCall& call) {
  run_parts(call, [&](void* const* arrays, const Segment& segment, void*) {
    void* states[3] = {nullptr, nullptr, nullptr};
    int bound = 0;
    for (int role = 2; role < kMaxArrays && bound < kStates; ++role) {
      if (arrays[role] != arrays[kParamRole]) states[bound++] = arrays[role];
    }
    ceiling_detail::segment_traffic<T, T, T, kStates, false>(arrays, states, nullptr, segment.begin,
                                                             segment.end);
  });
}

// same_traffic for a converted step: each tensor's bytes as its storage types make them (a 16-bit
// parameter reads and writes 2 bytes, a master copy 4 and its rounded parameter 2 more, ...), on
// the same plan, without conversions or math. The ceiling a 16-bit step is judged against.
template <int kStates>
void same_traffic_converted(const StepCall& call) {
  run_parts(call, [&](void* const* arrays, const Segment& segment, void*) {
    ceiling_detail::converted_segment_traffic<kStates>(arrays, call.storage[segment.tensor],
                                                       segment.begin, segment.end);
  });
}

// STREAM triad a = b + q*c on the param (a, written only), grad (b) and first state (c) slots.
template <class T>
void triad(const StepCall& call) {
  run_plan<Uniform<T>, 3>(call, [](T& a, T b, T& c) { a = b + T(0.5) * c; });
}

}  // namespace optkern::OPTKERN_ISA_NAMESPACE
