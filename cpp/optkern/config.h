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
// an OpenMP team costs microseconds, more than the work. Chosen with bench/grain.py (float32, 31-41
// interleaved rounds, one tensor split over 2 threads against 1 thread) on the 2-core Zen 5
// (AVX-512) development VM: Adam 0.60-0.96x at 4,096-8,192 elements, 0.90-1.13x at 16,384,
// 1.11-1.35x at 32,768, 1.48-1.58x at 49,152-65,536. (On the earlier Zen 3 AVX2 VM, Adam paid from
// 16,384: 1.33x.) So a second thread joins from 16,384 elements each. Algorithms with less work
// per element scale this by their GrainScale (params.h): SGD needs twice as many. Tests lower it
// (optkern._core._set_min_elements_per_thread) to split even tiny tensors.
constexpr std::int64_t kDefaultMinElementsPerThread = 1 << 14;

}  // namespace optkern
