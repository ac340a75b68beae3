// Constants shared by the kernels, the work planner and the binding.
#pragma once
#include <cstdint>

namespace optkern {

// Thread chunks start on cache-line boundaries of the parameter array, so no two threads ever
// write the same line of it.
constexpr std::int64_t kCacheLineBytes = 64;

// The most arrays one tensor brings to a kernel: param, grad and up to three state arrays
// (Adam with AMSGrad: exp_avg, exp_avg_sq, max_exp_avg_sq).
constexpr int kMaxArrays = 5;
constexpr int kParamRole = 0;
constexpr int kGradRole = 1;

// Below this many elements per thread a step runs on fewer threads (one, for small steps): waking
// an OpenMP team costs microseconds, more than the work. The rule: the smallest power of two per
// thread at which Adam on 2 threads beat 1 thread in every run of bench/grain.py (the runs are in
// bench/results/grain.md). Algorithms with less work per element scale this by their GrainScale
// (params.h). Tests lower it (optkern._core._set_min_elements_per_thread) to split tiny tensors.
constexpr std::int64_t kDefaultMinElementsPerThread = 1 << 14;

// The element types of parameters, gradients and states.
enum DType : int { kFloat32 = 0, kFloat64 = 1, kFloat16 = 2, kBFloat16 = 3 };

}  // namespace optkern
