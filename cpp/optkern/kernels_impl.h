// Instantiates every algorithm's kernels for float32 and float64 and fills the KernelTable of one
// ISA. Included by exactly one translation unit per ISA (cpp/isa/kernels_<isa>.cpp), which first
// defines OPTKERN_ISA_NAMESPACE, OPTKERN_ISA_NAME and OPTKERN_KERNEL_TABLE_FUNCTION; CMake compiles
// each with only that ISA's flags.
#pragma once
#include "optkern/ceiling.h"
#include "optkern/isa_namespace.h"
#include "optkern/kernel_table.h"
#include "optkern/math/adadelta.h"
#include "optkern/math/adagrad.h"
#include "optkern/math/adam.h"
#include "optkern/math/adamax.h"
#include "optkern/math/lion.h"
#include "optkern/math/nadam.h"
#include "optkern/math/radam.h"
#include "optkern/math/rmsprop.h"
#include "optkern/math/sgd.h"
#include "optkern/math/textbook_adagrad.h"
#include "optkern/math/textbook_adam.h"
#include "optkern/math/textbook_momentum.h"
#include "optkern/math/textbook_nesterov.h"
#include "optkern/math/textbook_rmsprop.h"

namespace optkern {

namespace OPTKERN_ISA_NAMESPACE {

// The table's entry to every kernel: the caller's flush-to-zero mode is cleared from here on (see
// KeepSubnormals in loop.h), so the kernel's casts of its coefficients to the array dtype, made
// on the calling thread before run_plan, do not flush a subnormal coefficient either.
template <class Params, StepKernel<Params> kernel>
void keeping_subnormals(const StepCall& call, const Params& hp) {
  const KeepSubnormals keep;
  kernel(call, hp);
}

}  // namespace OPTKERN_ISA_NAMESPACE

const KernelTable& OPTKERN_KERNEL_TABLE_FUNCTION() {
#define OPTKERN_TABLE_ROW(name, Params)                        \
  {&isa::keeping_subnormals<Params, &isa::name##_step<float>>, \
   &isa::keeping_subnormals<Params, &isa::name##_step<double>>},
  namespace isa = OPTKERN_ISA_NAMESPACE;
  static const KernelTable table = {
      OPTKERN_ISA_NAME,
      OPTKERN_FOR_EACH_ALGORITHM(OPTKERN_TABLE_ROW){
          {&isa::same_traffic<0, float>, &isa::same_traffic<0, double>},
          {&isa::same_traffic<1, float>, &isa::same_traffic<1, double>},
          {&isa::same_traffic<2, float>, &isa::same_traffic<2, double>},
          {&isa::same_traffic<3, float>, &isa::same_traffic<3, double>}},
      {&isa::triad<float>, &isa::triad<double>}};
#undef OPTKERN_TABLE_ROW
  return table;
}

}  // namespace optkern
