// The one loop that applies an element function over a StepCall: one OpenMP team for the whole
// tensor list (one part per thread, planned by work_plan.cpp), and inside each segment a scalar
// head up to the parameter's first cache-line boundary followed by a `#pragma omp simd` body. Head
// and body call the same element function, so they round identically.
//
// Storage and compute types are separate. A Signature names the type each array is stored in
// (param, grad, then each state, in Params::kArrays order) and the type the element function
// computes in. Two kinds are compiled:
//  - Uniform<T>: every array stored in T and computed in T (float32, float64). The loop hands the
//    element function references to the array elements themselves (a role the variant does not
//    use gets a value of its own): it works in place exactly as a hand-written loop would, with
//    no copy and no extra load or store.
//  - Converted: float32 arithmetic on arrays stored as float32, float16 or bfloat16, chosen per
//    tensor and role at run time (StepCall::storage). A segment whose storage is one of
//    FusedSignatures (the common combinations) runs fused: the same run_segment over a Signature
//    with 16-bit formats, whose slots convert each element as it is loaded and stored (float16 a
//    vector at a time through F16C/NEON). Any other segment runs the block path: blocks of
//    kConvertBlock elements of each 16-bit array converted into float32 scratch
//    (optkern/convert.h), the Uniform<float> loop over the block, the written arrays rounded back.
//    Both give the same bits. The block path compiles each algorithm's loop once whatever the
//    storage; the fused list holds only what a 16-bit training run uses, as fusing every
//    combination would multiply the build (param x grad x each state x master weights: dozens).
//    Measured in bench/results/storage-fused.md (storage-first.md: the block path alone).
#pragma once
#include <cstddef>
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>

#include "optkern/averaging.h"
#include "optkern/config.h"
#include "optkern/convert.h"
#include "optkern/isa_namespace.h"
#include "optkern/work_plan.h"

#if OPTKERN_HAVE_OPENMP
#include <omp.h>
#endif

namespace optkern::OPTKERN_ISA_NAMESPACE {

// The 16-bit storage formats of the fused converted loops: an array of std::uint16_t bits,
// loaded exactly into float32 and stored rounded to nearest even (optkern/convert.h's one-element
// functions, written branch free so that a loop of them vectorizes).
struct AsBFloat16 {
  static OPTKERN_INLINE float load(std::uint16_t bits) {
    return convert_detail::load_bfloat16_one(bits);
  }
  static OPTKERN_INLINE std::uint16_t store(float x) {
    return convert_detail::store_bfloat16_one(x);
  }
};
struct AsFloat16 {
  static OPTKERN_INLINE float load(std::uint16_t bits) {
    return convert_detail::load_float16_one(bits);
  }
  static OPTKERN_INLINE std::uint16_t store(float x) {
    return convert_detail::store_float16_one(x);
  }
};

// The element type of an array stored as Storage: a float type itself, a format's bits.
template <class Storage>
struct element_of {
  using type = Storage;
};
template <>
struct element_of<AsBFloat16> {
  using type = std::uint16_t;
};
template <>
struct element_of<AsFloat16> {
  using type = std::uint16_t;
};

// The types of one kernel: Compute for the arithmetic, Storage... for the arrays by role (param,
// grad, states), each the compute type or a 16-bit format. The loop touches only the roles the
// element function takes (run_plan's kArrays), so one signature serves algorithms with fewer
// arrays than it lists. Rounded (a 16-bit format, or void): with master weights, the format of
// the user's parameter that the updated master copy (the param role, float32) is rounded into;
// its array is arrays[kRoundedParamSlot].
template <class Compute_, class Rounded_, class... Storage>
struct Signature {
  using Compute = Compute_;
  using Rounded = Rounded_;
  template <int kRole>
  using storage = std::tuple_element_t<static_cast<std::size_t>(kRole), std::tuple<Storage...>>;
};
// Where the pointer table of a segment of a master-weights signature keeps the rounded parameter.
constexpr int kRoundedParamSlot = kMaxArrays;

// Every array stored in T, computed in T: the float32 and the float64 kernels.
template <class T>
using Uniform = Signature<T, void, T, T, T, T, T>;
static_assert(kMaxArrays == 5, "signatures list one storage type per role");

// 16-bit (or float32) storage chosen per tensor and role at run time, float32 arithmetic: the
// converted kernels. Their segments run fused where the storage is one of FusedSignatures, block
// by block through scratch otherwise (see run_plan).
struct Converted {
  using Compute = float;
};

// One array's element as the element function sees it. Stored in the compute type: a reference
// to the element itself. A role the tensor group does not bind points at the parameter, and the
// variant that runs never reads or writes it.
template <class Storage, class Compute, int kRole>
class Slot {
  static_assert(std::is_same_v<Storage, Compute>, "a float array is stored in the compute type");

 public:
  OPTKERN_INLINE Slot(void* const* arrays, std::int64_t i)
      : value_(static_cast<Compute*>(arrays[kRole])[i]) {}
  OPTKERN_INLINE Compute& get() { return value_; }

 private:
  Compute& value_;
};

// Stored in a 16-bit format: the element loaded into a float32 the element function updates, and
// rounded back when the slot goes out of scope (never for the gradient, which a step only reads).
template <class Format, int kRole>
class ConvertedSlot {
 public:
  OPTKERN_INLINE ConvertedSlot(void* const* arrays, std::int64_t i)
      : bits_(static_cast<std::uint16_t*>(arrays[kRole]) + i), value_(Format::load(*bits_)) {}
  OPTKERN_INLINE ~ConvertedSlot() {
    if constexpr (kRole != kGradRole) *bits_ = Format::store(value_);
  }
  ConvertedSlot(const ConvertedSlot&) = delete;
  ConvertedSlot& operator=(const ConvertedSlot&) = delete;
  OPTKERN_INLINE float& get() { return value_; }

 private:
  std::uint16_t* bits_;
  float value_;
};
template <class Storage, class Compute, int kRole>
struct slot_type {
  using type = Slot<Storage, Compute, kRole>;
};
template <int kRole>
struct slot_type<AsBFloat16, float, kRole> {
  using type = ConvertedSlot<AsBFloat16, kRole>;
};
template <int kRole>
struct slot_type<AsFloat16, float, kRole> {
  using type = ConvertedSlot<AsFloat16, kRole>;
};

// A master copy's element (float32, updated in place), rounded into the user's 16-bit parameter
// once the element function has run: the same value the block path's store_block writes.
template <class Rounded>
class MasterSlot {
 public:
  OPTKERN_INLINE MasterSlot(void* const* arrays, std::int64_t i)
      : master_(static_cast<float*>(arrays[kParamRole])[i]),
        rounded_(static_cast<std::uint16_t*>(arrays[kRoundedParamSlot]) + i) {}
  OPTKERN_INLINE ~MasterSlot() { *rounded_ = Rounded::store(master_); }
  MasterSlot(const MasterSlot&) = delete;
  MasterSlot& operator=(const MasterSlot&) = delete;
  OPTKERN_INLINE float& get() { return master_; }

 private:
  float& master_;
  std::uint16_t* rounded_;
};

// A role the element function does not use (see ElementOf): a value of its own, never loaded or
// stored.
template <class Compute>
class UnusedSlot {
 public:
  OPTKERN_INLINE UnusedSlot(void* const*, std::int64_t) {}
  OPTKERN_INLINE Compute& get() { return value_; }

 private:
  Compute value_{};
};

// An element function that says which roles it reads or writes (bit r: role r; step.h computes
// the mask from the variant's flags): the loop gives the others an UnusedSlot, so a 16-bit state
// array the variant ignores (Adam's max_exp_avg_sq without AMSGrad) costs no conversion. A plain
// callable (the ceilings) uses every role.
template <unsigned kUsedRoles_, class Function>
struct ElementOf {
  static constexpr unsigned kUsedRoles = kUsedRoles_;
  Function function;
  template <class... Values>
  OPTKERN_INLINE void operator()(Values&... values) const {
    function(values...);
  }
};
template <unsigned kUsedRoles, class Function>
ElementOf<kUsedRoles, Function> with_used_roles(Function function) {
  return {function};
}

template <class Element, class = void>
struct used_roles_of {
  static constexpr unsigned value = ~0u;
};
template <class Element>
struct used_roles_of<Element, std::void_t<decltype(Element::kUsedRoles)>> {
  static constexpr unsigned value = Element::kUsedRoles;
};

template <class Sig, int kRole>
using slot_of = std::conditional_t<
    kRole == kParamRole && !std::is_void_v<typename Sig::Rounded>,
    MasterSlot<typename Sig::Rounded>,
    typename slot_type<typename Sig::template storage<kRole>, typename Sig::Compute, kRole>::type>;

// Element i: a slot per role [kRole, kArrays), then element(p, g, states...).
template <class Sig, int kRole, int kArrays, class Element, class... Values>
OPTKERN_INLINE void apply_element(void* const* arrays, std::int64_t i, const Element& element,
                                  Values&... values) {
  if constexpr (kRole == kArrays) {
    element(values...);
  } else {
    using Used = slot_of<Sig, kRole>;
    std::conditional_t<(used_roles_of<Element>::value >> kRole & 1u) != 0, Used,
                       UnusedSlot<typename Sig::Compute>>
        slot(arrays, i);
    apply_element<Sig, kRole + 1, kArrays>(arrays, i, element, values..., slot.get());
  }
}

// Elements before x's next cache-line boundary (at most n): a scalar head there makes the vector
// body's stores aligned. NumPy aligns buffers to 16 bytes only, and aligned stores were up to
// 20 % faster on these machines. Every loop over arrays peels with it (run_segment, the fused
// float16 loop, the ceilings, the two-array kernels of grad_ops.h).
template <class T>
OPTKERN_INLINE std::int64_t aligned_head(const T* x, std::int64_t n) {
  const auto address = reinterpret_cast<std::uintptr_t>(x);
  const auto bytes =
      static_cast<std::int64_t>((kCacheLineBytes - address % kCacheLineBytes) % kCacheLineBytes);
  const std::int64_t head = bytes / static_cast<std::int64_t>(sizeof(T));
  return head < n ? head : n;
}

// The first index of [begin, end) at or after which the parameter's elements start a cache line.
template <class Sig>
OPTKERN_INLINE std::int64_t param_line_start(void* const* arrays, std::int64_t begin,
                                             std::int64_t end) {
  using Param = typename element_of<typename Sig::template storage<kParamRole>>::type;
  return begin + aligned_head(static_cast<const Param*>(arrays[kParamRole]) + begin, end - begin);
}

template <class Sig, int kArrays, class Element>
inline void run_segment(void* const* arrays, std::int64_t begin, std::int64_t end,
                        const Element& element) {
  const std::int64_t head = param_line_start<Sig>(arrays, begin, end);
  for (std::int64_t i = begin; i < head; ++i) apply_element<Sig, 0, kArrays>(arrays, i, element);
#pragma omp simd
  for (std::int64_t i = head; i < end; ++i) apply_element<Sig, 0, kArrays>(arrays, i, element);
}

// The storage combinations whose converted segments run fused, in one loop that converts each
// element as it loads and stores it (no scratch): the defaults of 16-bit parameters and their
// common options. Each is another compiled loop per algorithm variant and ISA (build time and
// library size grow with the list), so it holds what a 16-bit training run uses: bfloat16 or
// float16 parameters with their own gradients and float32 states, bfloat16 parameters with
// bfloat16 states, and master weights of either format. Every other combination, stochastic
// rounding and a fused EMA go through the block path (run_converted_segment), with the same bits.
using FusedSignatures =
    std::tuple<Signature<float, void, AsBFloat16, AsBFloat16, float, float, float>,
               Signature<float, void, AsFloat16, AsFloat16, float, float, float>,
               Signature<float, void, AsBFloat16, AsBFloat16, AsBFloat16, AsBFloat16, AsBFloat16>,
               Signature<float, AsBFloat16, float, AsBFloat16, float, float, float>,
               Signature<float, AsFloat16, float, AsFloat16, float, float, float>>;

// How a storage type appears in a TensorStorage row.
template <class Storage>
constexpr StoredAs stored_as_of() {
  if constexpr (std::is_same_v<Storage, AsBFloat16>) {
    return kStoredBFloat16;
  } else if constexpr (std::is_same_v<Storage, AsFloat16>) {
    return kStoredFloat16;
  } else {
    return kStoredFloat32;
  }
}

// Whether one tensor's storage row is Sig's for the first kArrays roles (unbound states match any
// state type; a master-weights signature needs the rounded parameter in its format).
template <class Sig, std::size_t... kRoles>
inline bool roles_match(const TensorStorage& storage, std::index_sequence<kRoles...>) {
  return ((storage.role[kRoles] == stored_as_of<typename Sig::template storage<kRoles>>() ||
           (kRoles >= 2 && storage.role[kRoles] == kUnbound)) &&
          ...);
}
template <class Sig, int kArrays>
inline bool storage_matches(const TensorStorage& storage) {
  if constexpr (std::is_void_v<typename Sig::Rounded>) {
    if (storage.rounded_param != nullptr) return false;
  } else {
    if (storage.rounded_param == nullptr ||
        storage.rounded_as != stored_as_of<typename Sig::Rounded>()) {
      return false;
    }
  }
  return roles_match<Sig>(storage, std::make_index_sequence<static_cast<std::size_t>(kArrays)>{});
}

// float16 in a fused loop, where the ISA converts in vector instructions (F16C, NEON): the
// one-element bit tricks that bfloat16 needs few instructions for cost float16 about four times
// as many as the whole conversion in F16C, so the loop takes kFloat16Lanes elements (one vector)
// at a time: each float16 array's vector converted into a float32 chunk (optkern/convert.h's block
// functions, exact and with NumPy's NaN rule like the bit tricks), the element loop over the
// chunk with float16 read as float32, and the chunk converted back.
template <class Storage>
using computed_as = std::conditional_t<std::is_same_v<Storage, AsFloat16>, float, Storage>;
template <class Sig>
struct without_float16;
template <class Compute, class Rounded, class... Storage>
struct without_float16<Signature<Compute, Rounded, Storage...>> {
  using type =
      Signature<Compute, std::conditional_t<std::is_same_v<Rounded, AsFloat16>, void, Rounded>,
                computed_as<Storage>...>;
};

template <class Sig, int kArrays, std::size_t... kRoles>
constexpr bool has_float16(std::index_sequence<kRoles...>) {
  return std::is_same_v<typename Sig::Rounded, AsFloat16> ||
         (std::is_same_v<typename Sig::template storage<kRoles>, AsFloat16> || ...);
}

// f(std::integral_constant<int, role>) for each role of kRoles, in order.
template <class F, std::size_t... kRoles>
OPTKERN_INLINE void for_each_role(F&& f, std::index_sequence<kRoles...>) {
  (f(std::integral_constant<int, static_cast<int>(kRoles)>{}), ...);
}

#if !OPTKERN_FLOAT16_PATH_PORTABLE
// [begin, end) of a segment of Sig in float16 chunks as above, up to the last whole chunk; returns
// where it stopped (the caller runs the rest element by element).
template <class Sig, int kArrays, class Element>
OPTKERN_INLINE std::int64_t run_float16_chunks(void* const* arrays, std::int64_t begin,
                                               std::int64_t end, const Element& element) {
  using Plain = typename without_float16<Sig>::type;
  constexpr std::int64_t kLanes = convert_detail::kFloat16Lanes;
  constexpr auto kUsed = used_roles_of<Element>::value;
  const auto each_role = [](auto&& f) {
    for_each_role(f, std::make_index_sequence<static_cast<std::size_t>(kArrays)>{});
  };
  std::int64_t i = begin;
  for (; i + kLanes <= end; i += kLanes) {
    alignas(kCacheLineBytes) float chunk[static_cast<std::size_t>(kArrays)][kLanes];
    void* table[kMaxArrays + 1];
    each_role([&](auto role) {
      constexpr int kRole = decltype(role)::value;
      using Storage = typename Sig::template storage<kRole>;
      if constexpr ((kUsed >> kRole & 1u) == 0) {
        table[kRole] = arrays[kRole];  // never read: an unbound role may be shorter than its type
      } else if constexpr (std::is_same_v<Storage, AsFloat16>) {
        convert_detail::load_float16_block(static_cast<const std::uint16_t*>(arrays[kRole]) + i,
                                           chunk[kRole]);
        table[kRole] = chunk[kRole];
      } else {
        table[kRole] = static_cast<typename element_of<Storage>::type*>(arrays[kRole]) + i;
      }
    });
    table[kRoundedParamSlot] = nullptr;
    if constexpr (!std::is_void_v<typename Plain::Rounded>) {
      table[kRoundedParamSlot] = static_cast<std::uint16_t*>(arrays[kRoundedParamSlot]) + i;
    }
#pragma omp simd
    for (std::int64_t j = 0; j < kLanes; ++j) apply_element<Plain, 0, kArrays>(table, j, element);
    each_role([&](auto role) {
      constexpr int kRole = decltype(role)::value;
      if constexpr (std::is_same_v<typename Sig::template storage<kRole>, AsFloat16> &&
                    kRole != kGradRole && (kUsed >> kRole & 1u) != 0) {
        convert_detail::store_float16_block(chunk[kRole],
                                            static_cast<std::uint16_t*>(arrays[kRole]) + i);
      }
    });
    if constexpr (std::is_same_v<typename Sig::Rounded, AsFloat16>) {
      convert_detail::store_float16_block(
          static_cast<const float*>(arrays[kParamRole]) + i,
          static_cast<std::uint16_t*>(arrays[kRoundedParamSlot]) + i);
    }
  }
  return i;
}
#endif

// Each fused loop is a function of its own (never inlined into the kernel variant), so that the
// variant's size does not count against the inlining inside the loop. The element function comes
// by value: a copy of the coefficients that no store to an array can change, which the compiler
// then keeps in registers (through a reference it reloaded them per element, and two SGD and
// AMSGrad variants did not vectorize).
template <class Sig, int kArrays, class Element>
__attribute__((noinline)) void run_fused(void* const* table, std::int64_t begin, std::int64_t end,
                                         const Element element) {
#if !OPTKERN_FLOAT16_PATH_PORTABLE
  if constexpr (has_float16<Sig, kArrays>(
                    std::make_index_sequence<static_cast<std::size_t>(kArrays)>{})) {
    // The elements before the parameter's first cache line and after the last whole chunk one at
    // a time (the same bits), the chunks between them.
    const std::int64_t head = param_line_start<Sig>(table, begin, end);
    for (std::int64_t i = begin; i < head; ++i) apply_element<Sig, 0, kArrays>(table, i, element);
    const std::int64_t rest = run_float16_chunks<Sig, kArrays>(table, head, end, element);
    for (std::int64_t i = rest; i < end; ++i) apply_element<Sig, 0, kArrays>(table, i, element);
  } else {
    run_segment<Sig, kArrays>(table, begin, end, element);
  }
#else
  run_segment<Sig, kArrays>(table, begin, end, element);
#endif
}

template <class Sig, int kArrays, class Element>
inline bool run_fused_if(void* const* arrays, const TensorStorage& storage, std::int64_t begin,
                         std::int64_t end, const Element& element) {
  if (!storage_matches<Sig, kArrays>(storage)) return false;
  void* table[kMaxArrays + 1];
  for (int role = 0; role < kMaxArrays; ++role) table[role] = arrays[role];
  table[kRoundedParamSlot] = storage.rounded_param;
  run_fused<Sig, kArrays>(table, begin, end, element);
  return true;
}

template <int kArrays, class Element, class... Sigs>
inline bool run_first_fused(void* const* arrays, const TensorStorage& storage, std::int64_t begin,
                            std::int64_t end, const Element& element, std::tuple<Sigs...>*) {
  return (run_fused_if<Sigs, kArrays>(arrays, storage, begin, end, element) || ...);
}

// The fused loops are compiled where a 16-bit step should be fast: the AVX2 and AVX-512 kernels
// and aarch64's. The x86-64 baseline kernels (SSE2: CPUs without AVX2, made before 2013) run
// every combination through the block path: they exist to be correct on any x86-64 CPU, and the
// fused loops would add a third to the build time for them.
#if defined(__AVX2__) || defined(__aarch64__)
constexpr bool kFusedConversions = true;
#else
constexpr bool kFusedConversions = false;
#endif

// Runs [begin, end) of one tensor fused if its storage is one of FusedSignatures; false if not.
template <int kArrays, class Element>
inline bool run_fused_segment(void* const* arrays, const TensorStorage& storage, std::int64_t begin,
                              std::int64_t end, const Element& element) {
  if constexpr (kFusedConversions) {
    return run_first_fused<kArrays>(arrays, storage, begin, end, element,
                                    static_cast<FusedSignatures*>(nullptr));
  } else {
    (void)arrays, (void)storage, (void)begin, (void)end, (void)element;
    return false;
  }
}

// Elements per block of a converted segment: kArrays float32 blocks of scratch (20 KiB for five
// arrays) stay in L1 next to the arrays' lines. 512 made a bfloat16 Adam step of 1e7 elements
// on one thread slower in most runs than 1024; 4096 and 16384 were no faster than 1024
// (bench/results/storage-first.md). 64 made every 16-bit step 1.4-1.9x slower in cache (the
// per-block dispatch and conversion calls; an A/B of two builds on the Zen 5 VM, 1e5 elements).
constexpr std::int64_t kConvertBlock = 1024;

inline void load_block(StoredAs as, const void* from, float* to, std::int64_t n) {
  const auto* bits = static_cast<const std::uint16_t*>(from);
  if (as == kStoredFloat16 || as == kStoredFloat16Stochastic) {
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
  } else if (as == kStoredFloat16Stochastic) {
    store_float16_stochastic(from, bits, n, key, first);
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

// Calls run_segment(arrays, segment, average) for every segment of one part: `arrays` the segment's
// tensor's kMaxArrays array pointers, `average` its fused EMA's array (nullptr for none).
template <class RunSegment>
inline void run_part(const StepCall& call, int part, const RunSegment& run_segment) {
  for (std::int64_t s = call.part_offsets[part]; s < call.part_offsets[part + 1]; ++s) {
    const Segment& segment = call.segments[s];
    void* arrays[kMaxArrays];
    for (int role = 0; role < kMaxArrays; ++role) {
      arrays[role] = call.arrays[segment.tensor * kMaxArrays + role];
    }
    void* average = call.ema_averages == nullptr ? nullptr : call.ema_averages[segment.tensor];
    run_segment(static_cast<void* const*>(arrays), segment, average);
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

// Runs every part of the call, each on its own thread of one OpenMP team (the calling thread alone
// for one part): run_segment as run_part calls it, for every segment.
template <class RunSegment>
void run_parts(const StepCall& call, const RunSegment& run_segment) {
  if (call.parts <= 1) {
    if (call.parts == 1) {
      const KeepSubnormals keep;
      run_part(call, 0, run_segment);
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
      run_part(call, part, run_segment);
    }
  }
#else
  const KeepSubnormals keep;
  for (int part = 0; part < call.parts; ++part) run_part(call, part, run_segment);
#endif
}

// Runs element(p, g, states...) over every element of the call, in the types of Sig; kArrays
// is the number of arrays the element function takes.
template <class Sig, int kArrays, class Element>
void run_plan(const StepCall& call, const Element& element) {
  using T = typename Sig::Compute;
  const auto ema_weight = static_cast<T>(call.ema_weight);
  run_parts(call, [&](void* const* arrays, const Segment& segment, void* average) {
    if constexpr (std::is_same_v<Sig, Converted>) {
      const TensorStorage& storage = call.storage[segment.tensor];
      if (average != nullptr ||
          !run_fused_segment<kArrays>(arrays, storage, segment.begin, segment.end, element)) {
        run_converted_segment<kArrays>(arrays, storage, segment.begin, segment.end,
                                       static_cast<float*>(average), ema_weight, element);
      }
    } else if (average != nullptr) {
      run_segment_with_ema<Sig, kArrays>(arrays, segment.begin, segment.end, average, ema_weight,
                                         element);
    } else {
      run_segment<Sig, kArrays>(arrays, segment.begin, segment.end, element);
    }
  });
}

}  // namespace optkern::OPTKERN_ISA_NAMESPACE
