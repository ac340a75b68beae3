// The element functions of optkern.accumulate and optkern.EMA, written once for every kernel that
// runs them (optkern/grad_ops.h) and twinned by optkern.reference.accumulate / ema_update.
#pragma once
#include "optkern/isa_namespace.h"

namespace optkern::OPTKERN_ISA_NAMESPACE {

// sum + value * scale: one step of gradient accumulation (scale 1 adds the value itself: x * 1 is
// x, and a NaN stays NaN).
template <class T>
inline T accumulate_element(T sum, T value, T scale) {
  return sum + value * scale;
}

// torch's lerp(average, value, weight), the update of an exponential moving average with
// weight = 1 - decay, in torch's two-sided form but without its fused multiply-add
// (-ffp-contract=off): so it is within an ulp or so of torch, and exactly its reference. Weight 1
// (decay 0: the first update, and those up to update_after_step) is a copy, as torch's copy_: the
// formula would turn an inf average into NaN and a -0.0 value into +0.0.
template <class T>
inline T ema_element(T average, T value, T weight) {
  const T difference = value - average;
  const T lerp =
      weight < T(0.5) ? average + weight * difference : value - difference * (T(1) - weight);
  return weight == T(1) ? value : lerp;
}

}  // namespace optkern::OPTKERN_ISA_NAMESPACE
