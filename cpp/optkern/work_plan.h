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

struct StepCall {
  // arrays[tensor * kMaxArrays + role] is the data pointer of that array (roles in
  // Params::kArrays order). A slot the step does not use points at the parameter and is never
  // touched.
  void* const* arrays;
  const Segment* segments;
  const std::int64_t* part_offsets;  // part p covers segments [part_offsets[p], part_offsets[p+1])
  int parts;
};

}  // namespace optkern
