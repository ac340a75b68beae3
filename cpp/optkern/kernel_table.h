// The one declared function type of every kernel, and the table of one ISA's kernels.
// dispatch.cpp chooses one table at import; the binding calls through it.
#pragma once
#include "optkern/algorithms.h"
#include "optkern/params.h"
#include "optkern/work_plan.h"

namespace optkern {

template <class Params>
using StepKernel = void (*)(const StepCall&, const Params&);
using CeilingKernel = void (*)(const StepCall&);  // optkern/ceiling.h

enum DType : int { kFloat32 = 0, kFloat64 = 1 };

struct KernelTable {
  const char* isa;
#define OPTKERN_TABLE_ENTRY(name, Params) StepKernel<Params> name[2];  // [kFloat32], [kFloat64]
  OPTKERN_FOR_EACH_ALGORITHM(OPTKERN_TABLE_ENTRY)
#undef OPTKERN_TABLE_ENTRY
  // Benchmarks only: same_traffic[s][dtype] moves the bytes of an algorithm with s states; triad
  // is STREAM's a = b + q*c.
  CeilingKernel same_traffic[kMaxArrays - 1][2];
  CeilingKernel triad[2];
};

// Defined by cpp/isa/kernels_<isa>.cpp; each exists only where CMake compiled that ISA.
const KernelTable& kernel_table_baseline();
const KernelTable& kernel_table_avx2();
const KernelTable& kernel_table_avx512();

}  // namespace optkern
