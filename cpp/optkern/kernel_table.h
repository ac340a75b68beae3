// The one declared function type of every kernel, and the table of one ISA's kernels.
// dispatch.cpp chooses one table at import; the binding calls through it.
#pragma once
#include <cstdint>

#include "optkern/grad_call.h"
#include "optkern/params.h"
#include "optkern/work_plan.h"

namespace optkern {

// Every kernel takes the coefficients as Python computed them, in float64; it casts them to its
// compute type itself (optkern/step.h).
template <class Params>
using StepKernel = void (*)(const StepCall&, const Params&);
using CeilingKernel = void (*)(const StepCall&);  // optkern/ceiling.h
using GradKernel = void (*)(const GradCall&);     // optkern/grad_ops.h
// Tests only: one of optkern/convert.h's array conversions, n elements from `from` to `to` (the
// storage type's bits as std::uint16_t, float32 as float).
using ConvertKernel = void (*)(const void* from, void* to, std::int64_t n);

// The storage signatures compiled: which type every array of a step is stored in, and which type
// its arithmetic runs in (a Signature in optkern/loop.h). A step's tensor group picks one
// (TensorGroup::storage_signature): Uniform where every array has the compute type, Converted
// where any array is 16-bit (or a master copy is kept), with the storage of each array read from
// the call (see optkern/loop.h).
enum StorageSignature : int {
  kAllFloat32 = 0,  // Uniform<float>
  kAllFloat64 = 1,  // Uniform<double>
  kConverted = 2,   // Converted: float32 arithmetic, float32/float16/bfloat16 arrays
  kStorageSignatures
};

// The conversions of optkern/convert.h, in KernelTable::convert's order.
enum Conversion : int {
  kLoadFloat16 = 0,
  kLoadBFloat16 = 1,
  kStoreFloat16 = 2,
  kStoreBFloat16 = 3,
  kConversions
};

// Kernels keyed by algorithm x storage signature: table.<name>[signature].
struct KernelTable {
  const char* isa;
#define OPTKERN_TABLE_ENTRY(name, Params) StepKernel<Params<double>> name[kStorageSignatures];
  OPTKERN_FOR_EACH_ALGORITHM(OPTKERN_TABLE_ENTRY)
#undef OPTKERN_TABLE_ENTRY
  // Benchmarks only: same_traffic[s][signature] moves the bytes of an algorithm with s states;
  // triad is STREAM's a = b + q*c (none for kConverted: nullptr).
  CeilingKernel same_traffic[kMaxArrays - 1][kStorageSignatures];
  CeilingKernel triad[kStorageSignatures];
  // The gradient kernels (optkern/grad_ops.h): a norm's block partials by NormKind (grad_call.h),
  // the in-place scaling and clamping of clip_grad_norm_ and clip_grad_value_,
  GradKernel grad_norm[kNormKinds];
  GradKernel scale_grads;
  GradKernel clamp_grads;
  // The two-array kernels of optkern.accumulate and optkern.EMA (optkern/averaging.h).
  GradKernel accumulate;
  GradKernel ema_update;
  // Tests only (_core._convert): each ISA's conversions, which the steps inline, checked alone
  // against NumPy and ml_dtypes for every bit pattern.
  ConvertKernel convert[kConversions];
};

// Defined by cpp/isa/kernels_<isa>.cpp; each exists only where CMake compiled that ISA.
const KernelTable& kernel_table_baseline();
const KernelTable& kernel_table_avx2();
const KernelTable& kernel_table_avx512();

}  // namespace optkern
