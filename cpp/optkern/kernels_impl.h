// Instantiates every algorithm's generic step (optkern/step.h) for each storage signature and
// fills the KernelTable of one ISA. Included by exactly one translation unit per ISA
// (cpp/isa/kernels_<isa>.cpp), which first defines OPTKERN_ISA_NAMESPACE, OPTKERN_ISA_NAME and
// OPTKERN_KERNEL_TABLE_FUNCTION; CMake compiles each with only that ISA's flags.
#pragma once
#include "optkern/ceiling.h"
#include "optkern/convert.h"
#include "optkern/grad_ops.h"
#include "optkern/isa_namespace.h"
#include "optkern/kernel_table.h"
#include "optkern/loop.h"
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
#include "optkern/step.h"

namespace optkern {
namespace OPTKERN_ISA_NAMESPACE {

// A conversion of convert.h behind the table's untyped ConvertKernel signature.
template <class From, class To, void (*kConvert)(const From*, To*, std::int64_t)>
void untyped_conversion(const void* from, void* to, std::int64_t n) {
  kConvert(static_cast<const From*>(from), static_cast<To*>(to), n);
}

}  // namespace OPTKERN_ISA_NAMESPACE

const KernelTable& OPTKERN_KERNEL_TABLE_FUNCTION() {
  namespace isa = OPTKERN_ISA_NAMESPACE;
  // Each row in StorageSignature order: [kAllFloat32], [kAllFloat64], [kConverted].
#define OPTKERN_TABLE_ROW(name, Params)                                               \
  {&isa::step<Params, isa::Uniform<float>>, &isa::step<Params, isa::Uniform<double>>, \
   &isa::step<Params, isa::Converted>},
  static const KernelTable table = {
      OPTKERN_ISA_NAME,
      OPTKERN_FOR_EACH_ALGORITHM(OPTKERN_TABLE_ROW){
          {&isa::same_traffic<0, float>, &isa::same_traffic<0, double>,
           &isa::same_traffic_converted<0>},
          {&isa::same_traffic<1, float>, &isa::same_traffic<1, double>,
           &isa::same_traffic_converted<1>},
          {&isa::same_traffic<2, float>, &isa::same_traffic<2, double>,
           &isa::same_traffic_converted<2>},
          {&isa::same_traffic<3, float>, &isa::same_traffic<3, double>,
           &isa::same_traffic_converted<3>}},
      {&isa::triad<float>, &isa::triad<double>, nullptr},
      // In NormKind order.
      {&isa::grad_norm<kNormTwo>, &isa::grad_norm<kNormOne>, &isa::grad_norm<kNormInf>},
      &isa::scale_grads,
      &isa::clamp_grads,
      &isa::accumulate,
      &isa::ema_update,
      // In Conversion order.
      {&isa::untyped_conversion<std::uint16_t, float, &isa::load_float16>,
       &isa::untyped_conversion<std::uint16_t, float, &isa::load_bfloat16>,
       &isa::untyped_conversion<float, std::uint16_t, &isa::store_float16>,
       &isa::untyped_conversion<float, std::uint16_t, &isa::store_bfloat16>}};
#undef OPTKERN_TABLE_ROW
  return table;
}

}  // namespace optkern
