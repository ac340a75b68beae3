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
// an OpenMP team costs microseconds, more than the work. Chosen with bench/grain.py (Adam float32,
// 2-core Zen 3, 31 interleaved rounds): 2 threads against 1 gave 0.89x at 4,096 elements, 1.06x at
// 8,192, 1.33x at 16,384 and 1.30x at 32,768, so a second thread joins from 8,192 elements each.
// Tests lower it (optkern._core._set_min_elements_per_thread) to split even tiny tensors.
constexpr std::int64_t kDefaultMinElementsPerThread = 1 << 13;

}  // namespace optkern
