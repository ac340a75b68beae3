// The ceiling loops of one ISA; included by bench/cpp/isa/ceiling_<isa>.cpp after it defines
// OPTKERN_ISA_NAMESPACE and OPTKERN_CEILING_TABLE_FUNCTION (see cpp/optkern/kernels_impl.h).
#pragma once
#include <cstdint>

#include "ceiling.h"
#include "optkern/isa_namespace.h"
#include "optkern/loop.h"

namespace optkern::OPTKERN_ISA_NAMESPACE {

// One add per written array keeps the compiler from dropping any load or store; the values only
// grow linearly, so no subnormals appear however long the benchmark runs.
template <int kStates, class T>
void same_traffic(const StepCall& call) {
  run_plan<T>(call, [](T* const* a, std::int64_t i) {
    const T g = a[kGradRole][i];
    a[kParamRole][i] = a[kParamRole][i] + g;
    if constexpr (kStates > 0) a[2][i] = a[2][i] + g;
    if constexpr (kStates > 1) a[3][i] = a[3][i] + g;
    if constexpr (kStates > 2) a[4][i] = a[4][i] + g;
  });
}

template <class T>
void triad(const StepCall& call) {
  run_plan<T>(call, [](T* const* a, std::int64_t i) {
    a[kParamRole][i] = a[kGradRole][i] + T(0.5) * a[2][i];
  });
}

}  // namespace optkern::OPTKERN_ISA_NAMESPACE

namespace optkern::bench {

const CeilingTable& OPTKERN_CEILING_TABLE_FUNCTION() {
  namespace isa = optkern::OPTKERN_ISA_NAMESPACE;
  static const CeilingTable table = {
      {{&isa::same_traffic<0, float>, &isa::same_traffic<0, double>},
       {&isa::same_traffic<1, float>, &isa::same_traffic<1, double>},
       {&isa::same_traffic<2, float>, &isa::same_traffic<2, double>},
       {&isa::same_traffic<3, float>, &isa::same_traffic<3, double>}},
      {&isa::triad<float>, &isa::triad<double>}};
  return table;
}

}  // namespace optkern::bench
