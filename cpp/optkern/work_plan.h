// What one kernel call works on, as plain pointers (no std containers: this header is read by the
// per-ISA translation units, which must not instantiate library templates of their own; see
// kernels_impl.h).
//
// The tensors of one call are laid end to end and cut into `parts` contiguous ranges of nearly
// equal element count, one per thread; every cut falls on a cache-line boundary of the parameter
// array. A part is a list of segments, each a [begin, end) range of one tensor.
#pragma once
#include <cstdint>

#include "optkern/config.h"

namespace optkern {

struct Segment {
  std::int64_t tensor;
  std::int64_t begin;
  std::int64_t end;
};

// How one array of a converted step (StorageSignature kConverted) is stored; its arithmetic runs
// in float32. kUnbound marks a role the tensor group does not bind: never loaded or stored.
// kStoredBFloat16Stochastic, kStoredFloat16Stochastic: bfloat16 or float16, loaded exactly, stored
// with stochastic rounding (rounding="stochastic"; keys in TensorStorage::rounding_key).
enum StoredAs : std::uint8_t {
  kStoredFloat32 = 0,
  kStoredFloat16,
  kStoredBFloat16,
  kUnbound,
  kStoredBFloat16Stochastic,
  kStoredFloat16Stochastic
};

// The storage of one tensor of a converted step.
struct TensorStorage {
  StoredAs role[kMaxArrays];  // each role's array (roles in Params::kArrays order)
  // With master weights, role 0 is the float32 master copy the step updates, and `rounded_param`
  // the user's 16-bit parameter, stored as `rounded_as`, which the step then writes the rounded
  // master to; otherwise nullptr.
  void* rounded_param;
  StoredAs rounded_as;  // never stochastic: the master copy rounds to nearest into the parameter
  // Per role stored stochastically: its keys (k1, k2) for this step
  // (optkern/rounding_hash.h), set by TensorGroup::plan on every step.
  std::uint32_t rounding_key[kMaxArrays][2];
};

struct StepCall {
  // arrays[tensor * kMaxArrays + role] is the data pointer of that array (roles in
  // Params::kArrays order). A slot the step does not use points at the parameter and is never
  // touched.
  void* const* arrays;
  const Segment* segments;
  const std::int64_t* part_offsets;  // part p covers segments [part_offsets[p], part_offsets[p+1])
  int parts;
  // Converted steps only: storage[tensor]; nullptr for the other signatures, where every array
  // is stored in the compute type.
  const TensorStorage* storage;
  // What every gradient element is multiplied by before the update uses it (the clip
  // coefficient over the loss scale, optkern/loop.h), rounded to the compute type there; 1 for a
  // plain step, which multiplies nothing.
  double grad_multiplier;
  // An EMA fused into the step (optkern.EMA, Optimizer.step(ema=)): per tensor the float32 (float64
  // for a float64 group) array of its average, updated from each block of the parameter right
  // after the block is written (optkern/averaging.h, weight = 1 - decay); nullptr for none.
  void* const* ema_averages;
  double ema_weight;
};

}  // namespace optkern
