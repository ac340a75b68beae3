// Memory ceilings for the kernel benchmark: loops that move exactly an algorithm's bytes and do
// no math, through the same run_plan (same threads, same parts, same alignment peeling) as the
// kernels, compiled once per ISA like them.
#pragma once
#include "optkern/config.h"
#include "optkern/work_plan.h"

namespace optkern::bench {

using CeilingKernel = void (*)(const StepCall&);

struct CeilingTable {
  // same_traffic[s][dtype]: read param, grad and s state arrays; write param and the s states in
  // place: the traffic of an algorithm with s states (Adam: s = 2, 7 arrays moved).
  CeilingKernel same_traffic[kMaxArrays - 1][2];
  // STREAM triad a = b + q*c on the param (a, written only), grad (b) and first state (c) slots.
  CeilingKernel triad[2];
};

// Defined by bench/cpp/isa/ceiling_<isa>.cpp where CMake compiled that ISA.
const CeilingTable& ceiling_table_baseline();
const CeilingTable& ceiling_table_avx2();
const CeilingTable& ceiling_table_avx512();

}  // namespace optkern::bench
