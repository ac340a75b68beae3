// The one loop that applies an element function over a StepCall: one OpenMP team for the whole
// tensor list (one part per thread, planned by work_plan.cpp), and inside each segment a scalar
// head up to the parameter's first cache-line boundary followed by a `#pragma omp simd` body. Head
// and body call the same element function, so they round identically.
//
// Storage and compute types are separate. A Signature names the type each array is stored in
// (param, grad, then each state, in Params::kArrays order) and the type the element function
// computes in. Two kinds are compiled:
//  - Uniform<T>: every array stored in T and computed in T (float32, float64). The loop hands the
//    element function references to the array elements themselves: it works in place exactly as
//    a hand-written loop would, with no copy and no extra load or store.
//  - Converted: float32 arithmetic on arrays stored as float32, float16 or bfloat16, chosen per
//    tensor and role at run time (StepCall::storage). The loop converts blocks of kConvertBlock
//    elements of each 16-bit array into float32 scratch (optkern/convert.h), runs the
//    Uniform<float> loop on the block, and rounds the written arrays back. So each algorithm's
//    element loop is compiled once per compute type, not once per combination of storage types
//    (param x grad x each state x master weights: dozens), and the conversions are written once per
//    storage type. The price is measured (bench/results/storage-first.md): the conversions cost
//    about as much as Adam's math in cache, and the block's conversion passes do not overlap the
//    memory traffic as one fused loop would, so a 16-bit step is not yet faster than float32.
#pragma once
#include <cstddef>
#include <cstdint>
#include <tuple>
#include <type_traits>

#include "optkern/averaging.h"
#include "optkern/config.h"
#include "optkern/convert.h"
#include "optkern/isa_namespace.h"
#include "optkern/work_plan.h"

#if OPTKERN_HAVE_OPENMP
#include <omp.h>
#endif

namespace optkern::OPTKERN_ISA_NAMESPACE {

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

// 16-bit (or float32) storage chosen per tensor and role at run time, float32 arithmetic.
struct Converted {
  using Compute = float;
};

// One array's element as the element function sees it: a reference to the element itself (a
// Uniform signature stores every array in its compute type). A role the tensor group does not
// bind points at the parameter, and the variant that runs never reads or writes it.
template <class Storage, class Compute>
class Slot {
  static_assert(std::is_same_v<Storage, Compute>,
                "mixed storage and compute types go through the Converted signature");

 public:
  Slot(void* array, std::int64_t i) : value_(static_cast<Compute*>(array)[i]) {}
  Compute& get() { return value_; }

 private:
  Compute& value_;
};

// Element i: a Slot per role [kRole, kArrays), then element(p, g, states...).
template <class Sig, int kRole, int kArrays, class Element, class... Values>
inline void apply_element(void* const* arrays, std::int64_t i, const Element& element,
                          Values&... values) {
  if constexpr (kRole == kArrays) {
    element(values...);
  } else {
    Slot<typename Sig::template storage<kRole>, typename Sig::Compute> slot(arrays[kRole], i);
    apply_element<Sig, kRole + 1, kArrays>(arrays, i, element, values..., slot.get());
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

// Elements per block of a converted segment: kArrays float32 blocks of scratch (20 KiB for five
// arrays) stay in L1 next to the arrays' lines. 512 made a bfloat16 Adam step of 1e7 elements
// on one thread slower in most runs than 1024; 4096 and 16384 were no faster than 1024
// (bench/results/storage-first.md).
constexpr std::int64_t kConvertBlock = 1024;

inline void load_block(StoredAs as, const void* from, float* to, std::int64_t n) {
  const auto* bits = static_cast<const std::uint16_t*>(from);
  if (as == kStoredFloat16) {
    load_float16(bits, to, n);
  } else {
    load_bfloat16(bits, to, n);
  }
}

// `key` and `first` (the block's first element in its tensor) are read by the stochastic store
// only: its random bits depend on the element's index, never on the block.
inline void store_block(StoredAs as, const float* from, void* to, std::int64_t n,
                        const std::uint32_t key[2], std::int64_t first) {
  auto* bits = static_cast<std::uint16_t*>(to);
  if (as == kStoredFloat16) {
    store_float16(from, bits, n);
  } else if (as == kStoredBFloat16Stochastic) {
    store_bfloat16_stochastic(from, bits, n, key, first);
  } else {
    store_bfloat16(from, bits, n);
  }
}

// The EMA fused into a step: average = lerp(average, value, weight) over one block, reading the
// parameter's block just written (still in L1).
template <class T>
inline void ema_block(T* average, const T* value, std::int64_t n, T weight) {
#pragma omp simd
  for (std::int64_t i = 0; i < n; ++i) average[i] = ema_element(average[i], value[i], weight);
}

// Elements per block of a Uniform step with an EMA; the average's block is prefetched before the
// step runs on the parameter's (which the EMA then reads from L1). Measured at 1e7 float32 on
// one thread (bench/averaging_step.py, noisy): blocks of 1024 without the prefetch made the fused
// step slower than step + ema.update() (7.6 vs 7.0 ms), blocks of 16384 3 % slower, blocks of
// 2048 with it even; with 2 threads and with 2,000 tensors the fused step is 5-25 % faster.
constexpr std::int64_t kEmaBlock = 2048;

// [begin, end) of one tensor of a Uniform step with an EMA, block by block: `average` updated
// from each block of the parameter right after the step wrote it.
template <class Sig, int kArrays, class Element>
inline void run_segment_with_ema(void* const* arrays, std::int64_t begin, std::int64_t end,
                                 void* average, typename Sig::Compute ema_weight,
                                 const Element& element) {
  using T = typename Sig::Compute;
  static_assert(std::is_same_v<Sig, Uniform<T>>, "converted steps run blocks of their own");
  for (std::int64_t start = begin; start < end; start += kEmaBlock) {
    const std::int64_t n = end - start < kEmaBlock ? end - start : kEmaBlock;
    void* block[kMaxArrays];
    for (int role = 0; role < kArrays; ++role) block[role] = static_cast<T*>(arrays[role]) + start;
    // The average's block is fetched while the step runs on the same block of the parameter.
    T* const average_block = static_cast<T*>(average) + start;
    for (std::int64_t i = 0; i < n; i += kCacheLineBytes / static_cast<std::int64_t>(sizeof(T))) {
      __builtin_prefetch(average_block + i, 1);
    }
    run_segment<Sig, kArrays>(block, 0, n, element);
    ema_block(static_cast<T*>(average) + start, static_cast<const T*>(block[kParamRole]), n,
              ema_weight);
  }
}

// [begin, end) of one tensor of a converted step, block by block: each 16-bit array's block
// loaded into float32 scratch (float32 arrays are used where they are), the Uniform<float> loop
// over the block, then the written 16-bit arrays rounded back (the gradient is read only) and,
// with master weights, the updated master rounded into the user's parameter. `average` (or
// nullptr): a float32 EMA updated from the user's parameter as stored, block by block.
template <int kArrays, class Element>
inline void run_converted_segment(void* const* arrays, const TensorStorage& storage,
                                  std::int64_t begin, std::int64_t end, float* average,
                                  float ema_weight, const Element& element) {
  alignas(kCacheLineBytes) float scratch[static_cast<std::size_t>(kArrays)][kConvertBlock];
  for (std::int64_t start = begin; start < end; start += kConvertBlock) {
    const std::int64_t n = end - start < kConvertBlock ? end - start : kConvertBlock;
    void* block[kMaxArrays];
    for (int role = 0; role < kArrays; ++role) {
      const StoredAs as = storage.role[role];
      if (as == kStoredFloat32) {
        block[role] = static_cast<float*>(arrays[role]) + start;
      } else {
        block[role] = scratch[role];  // never read when unbound: the variant does not use it
        if (as != kUnbound)
          load_block(as, static_cast<std::uint16_t*>(arrays[role]) + start, scratch[role], n);
      }
    }
    run_segment<Uniform<float>, kArrays>(block, 0, n, element);
    for (int role = 0; role < kArrays; ++role) {
      const StoredAs as = storage.role[role];
      if (role != kGradRole && as != kStoredFloat32 && as != kUnbound) {
        store_block(as, scratch[role], static_cast<std::uint16_t*>(arrays[role]) + start, n,
                    storage.rounding_key[role], start);
      }
    }
    if (storage.rounded_param != nullptr) {
      store_block(storage.rounded_as, static_cast<const float*>(block[kParamRole]),
                  static_cast<std::uint16_t*>(storage.rounded_param) + start, n,
                  storage.rounding_key[kParamRole], start);
    }
    if (average != nullptr) {
      // The parameter as the user sees it: a float32 one where it is, a 16-bit one (or the
      // rounded master copy) loaded back from the block just stored.
      const float* value = static_cast<const float*>(block[kParamRole]);
      if (storage.rounded_param != nullptr) {
        load_block(storage.rounded_as,
                   static_cast<const std::uint16_t*>(storage.rounded_param) + start,
                   scratch[kParamRole], n);
        value = scratch[kParamRole];
      } else if (storage.role[kParamRole] != kStoredFloat32) {
        load_block(storage.role[kParamRole],
                   static_cast<const std::uint16_t*>(arrays[kParamRole]) + start,
                   scratch[kParamRole], n);
        value = scratch[kParamRole];
      }
      ema_block(average + start, value, n, ema_weight);
    }
  }
}

template <class Sig, int kArrays, class Element>
inline void run_part(const StepCall& call, int part, const Element& element) {
  const auto ema_weight = static_cast<typename Sig::Compute>(call.ema_weight);
  for (std::int64_t s = call.part_offsets[part]; s < call.part_offsets[part + 1]; ++s) {
    const Segment& segment = call.segments[s];
    void* arrays[kMaxArrays];
    for (int role = 0; role < kMaxArrays; ++role) {
      arrays[role] = call.arrays[segment.tensor * kMaxArrays + role];
    }
    void* average = call.ema_averages == nullptr ? nullptr : call.ema_averages[segment.tensor];
    if constexpr (std::is_same_v<Sig, Converted>) {
      run_converted_segment<kArrays>(arrays, call.storage[segment.tensor], segment.begin,
                                     segment.end, static_cast<float*>(average), ema_weight,
                                     element);
    } else if (average != nullptr) {
      run_segment_with_ema<Sig, kArrays>(arrays, segment.begin, segment.end, average, ema_weight,
                                         element);
    } else {
      run_segment<Sig, kArrays>(arrays, segment.begin, segment.end, element);
    }
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
