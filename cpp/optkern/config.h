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

// Below this many elements per thread a step runs on one thread: waking an OpenMP team costs
// microseconds, more than the work. Tuned with bench/ (see the README's performance section).
constexpr std::int64_t kMinElementsPerThread = 1 << 15;

}  // namespace optkern
