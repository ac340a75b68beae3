// The one loop that applies an element function over a StepCall: one OpenMP team for the whole
// tensor list (one part per thread, planned by work_plan.cpp), and inside each segment a scalar
// head up to the parameter's first cache-line boundary followed by a `#pragma omp simd` body. Head
// and body call the same element function, so they round identically.
//
// Storage and compute types are separate. A Signature names the type each array is stored in
// (param, grad, then each state, in Params::kArrays order) and the type the element function
// computes in; per element the loop makes one Slot per array, which loads the stored value into
// the compute type, hands the element function a reference to it and stores it back afterwards.
// Where the two types are the same (every kernel compiled today: all float32 or all float64) the
// Slot is the array element itself, so the element function works in place exactly as a
// hand-written loop would: no copy, no extra load or store, the same vector code.
#pragma once
#include <cstddef>
#include <cstdint>
#include <tuple>
#include <type_traits>

#include "optkern/config.h"
#include "optkern/isa_namespace.h"
#include "optkern/work_plan.h"

#if OPTKERN_HAVE_OPENMP
#include <omp.h>
#endif

namespace optkern::OPTKERN_ISA_NAMESPACE {

// How a value of storage type Storage becomes the compute type and back: a pair
//   static Compute load(Storage);   static Storage store(Compute);   (round to nearest even)
// per specialisation. There is no general rule on purpose: a storage type the loop has no pair
// for does not compile. None is needed yet, as every storage type today is its compute type.
template <class Storage, class Compute>
struct Convert;

// The types of one kernel: Compute for the arithmetic, Storage... for the arrays by role (param,
// grad, states). The loop touches only the roles the element function takes (run_plan's kArrays),
// so one signature serves algorithms with fewer arrays than it lists.
template <class Compute_, class... Storage>
struct Signature {
  using Compute = Compute_;
  template <int kRole>
  using storage = std::tuple_element_t<static_cast<std::size_t>(kRole), std::tuple<Storage...>>;
};

// Every array stored in T, computed in T: the float32 and the float64 kernels.
template <class T>
using Uniform = Signature<T, T, T, T, T, T>;
static_assert(kMaxArrays == 5, "Uniform lists one storage type per role");

// One array's element as the element function sees it: loaded into the compute type, stored back
// by commit(). A role the tensor group does not bind points at the parameter (see StepCall) and
// must not be loaded as a state: a signature with storage types other than its compute type names
// such a role Unused (the group's bound arrays pick the signature), and its Slot is a local the
// element function never reads. A bound role the variant ignores is loaded and stored unchanged.
template <class Storage, class Compute>
class Slot {
 public:
  Slot(void* array, std::int64_t i)
      : at_(static_cast<Storage*>(array) + i), value_(Convert<Storage, Compute>::load(*at_)) {}
  Compute& get() { return value_; }
  void commit() const { *at_ = Convert<Storage, Compute>::store(value_); }

 private:
  Storage* at_;
  Compute value_;
};

// Same storage and compute type: the element itself, updated in place.
template <class T>
class Slot<T, T> {
 public:
  Slot(void* array, std::int64_t i) : value_(static_cast<T*>(array)[i]) {}
  T& get() { return value_; }
  void commit() const {}

 private:
  T& value_;
};

struct Unused {};
template <class Compute>
class Slot<Unused, Compute> {
 public:
  Slot(void*, std::int64_t) {}
  Compute& get() { return value_; }
  void commit() const {}

 private:
  Compute value_{};
};

// Element i: a Slot per role [kRole, kArrays), then element(p, g, states...), then the stores
// (the gradient is read only, so it is never stored).
template <class Sig, int kRole, int kArrays, class Element, class... Values>
inline void apply_element(void* const* arrays, std::int64_t i, const Element& element,
                          Values&... values) {
  if constexpr (kRole == kArrays) {
    element(values...);
  } else {
    Slot<typename Sig::template storage<kRole>, typename Sig::Compute> slot(arrays[kRole], i);
    apply_element<Sig, kRole + 1, kArrays>(arrays, i, element, values..., slot.get());
    if constexpr (kRole != kGradRole) slot.commit();
  }
}

template <class Sig, int kArrays, class Element>
inline void run_segment(void* const* arrays, std::int64_t begin, std::int64_t end,
                        const Element& element) {
  // NumPy aligns buffers to 16 bytes only; peel up to the parameter's next 64-byte boundary so the
  // vector body's stores to it are aligned (up to 20 % faster on these machines).
  using Param = typename Sig::template storage<kParamRole>;
  const auto address =
      reinterpret_cast<std::uintptr_t>(static_cast<Param*>(arrays[kParamRole]) + begin);
  const std::int64_t misaligned_bytes =
      static_cast<std::int64_t>((kCacheLineBytes - address % kCacheLineBytes) % kCacheLineBytes);
  std::int64_t head = begin + misaligned_bytes / static_cast<std::int64_t>(sizeof(Param));
  if (head > end) head = end;
  for (std::int64_t i = begin; i < head; ++i) apply_element<Sig, 0, kArrays>(arrays, i, element);
#pragma omp simd
  for (std::int64_t i = head; i < end; ++i) apply_element<Sig, 0, kArrays>(arrays, i, element);
}

template <class Sig, int kArrays, class Element>
inline void run_part(const StepCall& call, int part, const Element& element) {
  for (std::int64_t s = call.part_offsets[part]; s < call.part_offsets[part + 1]; ++s) {
    const Segment& segment = call.segments[s];
    void* arrays[kMaxArrays];
    for (int role = 0; role < kMaxArrays; ++role) {
      arrays[role] = call.arrays[segment.tensor * kMaxArrays + role];
    }
    run_segment<Sig, kArrays>(arrays, segment.begin, segment.end, element);
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

// Runs element(p, g, states...) over every element of the call, in the types of Sig; kArrays
// is the number of arrays the element function takes.
template <class Sig, int kArrays, class Element>
void run_plan(const StepCall& call, const Element& element) {
  if (call.parts <= 1) {
    if (call.parts == 1) {
      const KeepSubnormals keep;
      run_part<Sig, kArrays>(call, 0, element);
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
      run_part<Sig, kArrays>(call, part, element);
    }
  }
#else
  const KeepSubnormals keep;
  for (int part = 0; part < call.parts; ++part) run_part<Sig, kArrays>(call, part, element);
#endif
}

}  // namespace optkern::OPTKERN_ISA_NAMESPACE
