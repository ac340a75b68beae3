// The one loop that applies an element function over a StepCall: one OpenMP team for the whole
// tensor list (one part per thread, planned by work_plan.cpp), and inside each segment a scalar
// head up to the parameter's first cache-line boundary followed by a `#pragma omp simd` body. Head
// and body call the same element function, so they round identically.
#pragma once
#include <cstdint>

#include "optkern/config.h"
#include "optkern/isa_namespace.h"
#include "optkern/work_plan.h"

#if OPTKERN_HAVE_OPENMP
#include <omp.h>
#endif

namespace optkern::OPTKERN_ISA_NAMESPACE {

template <class T, class Element>
inline void run_segment(T* const* arrays, std::int64_t begin, std::int64_t end,
                        const Element& element) {
  // NumPy aligns buffers to 16 bytes only; peel up to the parameter's next 64-byte boundary so the
  // vector body's stores to it are aligned (up to 20 % faster on these machines).
  const auto address = reinterpret_cast<std::uintptr_t>(arrays[kParamRole] + begin);
  const std::int64_t misaligned_bytes =
      static_cast<std::int64_t>((kCacheLineBytes - address % kCacheLineBytes) % kCacheLineBytes);
  std::int64_t head = begin + misaligned_bytes / static_cast<std::int64_t>(sizeof(T));
  if (head > end) head = end;
  for (std::int64_t i = begin; i < head; ++i) element(arrays, i);
#pragma omp simd
  for (std::int64_t i = head; i < end; ++i) element(arrays, i);
}

template <class T, class Element>
inline void run_part(const StepCall& call, int part, const Element& element) {
  for (std::int64_t s = call.part_offsets[part]; s < call.part_offsets[part + 1]; ++s) {
    const Segment& segment = call.segments[s];
    T* arrays[kMaxArrays];
    for (int role = 0; role < kMaxArrays; ++role) {
      arrays[role] = static_cast<T*>(call.arrays[segment.tensor * kMaxArrays + role]);
    }
    run_segment(arrays, segment.begin, segment.end, element);
  }
}

// Clears flush-to-zero and denormals-are-zero in this thread while a kernel part runs, then puts
// the caller's floating-point control state back. A library built with -ffast-math sets them in
// the thread that loads it; the part run on the calling thread would then flush subnormals while
// the OpenMP workers did not, so results would depend on the thread count and differ from the
// reference. Compiler builtins, not <cfenv>: see isa_namespace.h. The register is written only
// when a flag must be cleared (writing MXCSR serialises the pipeline; reading it is cheap).
class KeepSubnormals {
 public:
  KeepSubnormals() : saved_(read()) {
    if (saved_ & kFlushBits) write(saved_ & ~kFlushBits);
  }
  ~KeepSubnormals() {
    if (saved_ & kFlushBits) write(saved_);
  }
  KeepSubnormals(const KeepSubnormals&) = delete;
  KeepSubnormals& operator=(const KeepSubnormals&) = delete;

 private:
#if defined(__x86_64__)
  static constexpr unsigned kFlushBits = (1u << 15) | (1u << 6);  // MXCSR: FTZ, DAZ
  static unsigned read() { return __builtin_ia32_stmxcsr(); }
  static void write(unsigned mode) { __builtin_ia32_ldmxcsr(mode); }
#elif defined(__aarch64__)
  static constexpr unsigned long long kFlushBits = (1ull << 24) | (1ull << 19);  // FPCR: FZ, FZ16
#if defined(__clang__)
  static unsigned long long read() { return __builtin_arm_rsr64("fpcr"); }
  static void write(unsigned long long mode) { __builtin_arm_wsr64("fpcr", mode); }
#else
  static unsigned long long read() { return __builtin_aarch64_get_fpcr(); }
  static void write(unsigned long long mode) {
    __builtin_aarch64_set_fpcr(static_cast<unsigned>(mode));  // the upper 32 bits are reserved
  }
#endif
#else  // no flush-to-zero control known here: nothing to clear
  static constexpr unsigned kFlushBits = 0;
  static unsigned read() { return 0; }
  static void write(unsigned) {}
#endif
  decltype(read()) saved_;
};

template <class T, class Element>
void run_plan(const StepCall& call, const Element& element) {
  if (call.parts <= 1) {
    if (call.parts == 1) {
      const KeepSubnormals keep;
      run_part<T>(call, 0, element);
    }
    return;
  }
#if OPTKERN_HAVE_OPENMP
#pragma omp parallel num_threads(call.parts)
  {
    const KeepSubnormals keep;  // every thread has its own control register
    // The runtime may grant fewer threads than asked (OMP_THREAD_LIMIT, nested regions): the
    // threads it did grant then share out the remaining parts.
    const int team = omp_get_num_threads();
    for (int part = omp_get_thread_num(); part < call.parts; part += team) {
      run_part<T>(call, part, element);
    }
  }
#else
  const KeepSubnormals keep;
  for (int part = 0; part < call.parts; ++part) run_part<T>(call, part, element);
#endif
}

}  // namespace optkern::OPTKERN_ISA_NAMESPACE
