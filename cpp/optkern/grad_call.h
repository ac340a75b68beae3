// What one call of a gradient kernel (optkern/grad_ops.h) works on: the gradients cut into blocks
// of kNormBlock elements, as plain pointers (see work_plan.h for why no std containers).
//
// The blocks are numbered in a fixed order: gradient by gradient, in the order the caller passed
// them, each from its first element. A norm's partial result belongs to its block, whichever
// thread computes it, and the caller sums the partials in block order: so the norm is the same
// for every thread count.
#pragma once
#include <cstdint>

#include "optkern/config.h"

namespace optkern {

// Elements per block of a gradient kernel, and lanes per block of a norm: a block's sum runs in
// kNormLanes float64 partial sums, lane j holding the elements j, j + kNormLanes, ... in order,
// which any vector width computes alike (optkern/grad_ops.h says why 32). The reference
// (optkern.reference.grad_norm) reads both from _core.
constexpr std::int64_t kNormBlock = 2048;
constexpr int kNormLanes = 32;

// Which norm: the sum of squares (2), of absolute values (1), or the largest absolute value (inf).
enum NormKind : int { kNormTwo = 0, kNormOne = 1, kNormInf = 2, kNormKinds };

struct GradBlock {
  void* data;  // the block's first element (read only by the norm)
  std::int64_t n;
  DType dtype;
  // The two-array kernels (accumulate, EMA): the block of the array read beside `data`, or
  // nullptr; float64 only beside float64 data.
  const void* source;
  DType source_dtype;
};

struct GradCall {
  const GradBlock* blocks;
  std::int64_t count;
  int threads;
  // The norm: per block, its partial (sum of squares, sum of absolute values, or the largest
  // absolute value) and whether every element of the block is finite (1) or not (0).
  double* partials;
  std::uint8_t* finite;
  // scale_grads: the factor each element is multiplied by; clamp_grads: the bound (elements are
  // clamped to [-bound, bound]); accumulate: the factor of the source (1: none); ema_update: the
  // weight of the source (optkern/ema.h). Cast to the arithmetic type: float32 but for float64.
  double operand;
};

}  // namespace optkern
