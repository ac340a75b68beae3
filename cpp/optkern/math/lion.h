// Lion ("Symbolic Discovery of Optimization Algorithms", Chen et al., 2023), per element.
#pragma once
#include <cstdint>

#include "optkern/flags.h"
#include "optkern/loop.h"
#include "optkern/math/common.h"
#include "optkern/params.h"

namespace optkern::OPTKERN_ISA_NAMESPACE {
namespace math {

template <class T>
struct LionCoefficients {
  T lr, beta1, one_minus_beta1, beta2, one_minus_beta2, decay_factor;
  explicit LionCoefficients(const LionParams& hp)
      : lr(static_cast<T>(hp.lr)),
        beta1(static_cast<T>(hp.beta1)),
        one_minus_beta1(static_cast<T>(hp.one_minus_beta1)),
        beta2(static_cast<T>(hp.beta2)),
        one_minus_beta2(static_cast<T>(hp.one_minus_beta2)),
        decay_factor(static_cast<T>(hp.decay_factor)) {}
};

// Twin: optkern.reference.lion
//   g <- -g (maximize)
//   c <- beta1*m + (1 - beta1)*g
//   p <- p*(1 - lr*wd) (wd != 0);  p <- p - lr*sign(c)    (sign(0) = 0, sign(NaN) = NaN)
//   m <- beta2*m + (1 - beta2)*g
template <bool kMaximize, bool kWeightDecay, class T>
inline void lion(const LionCoefficients<T>& c, T& p, T g, T& m) {
  if constexpr (kMaximize) g = -g;
  const T interpolated = c.beta1 * m + c.one_minus_beta1 * g;
  if constexpr (kWeightDecay) p = p * c.decay_factor;
  p = p - c.lr * sign(interpolated);
  m = c.beta2 * m + c.one_minus_beta2 * g;
}

}  // namespace math

template <class T>
void lion_step(const StepCall& call, const LionParams& hp) {
  const math::LionCoefficients<T> c(hp);
  with_flags(
      [&](auto maximize, auto weight_decay) {
        run_plan<T>(call, [c](T* const* a, std::int64_t i) {
          math::lion<decltype(maximize)::value, decltype(weight_decay)::value>(c, a[0][i], a[1][i],
                                                                               a[2][i]);
        });
      },
      hp.maximize, hp.weight_decay != 0);
}

}  // namespace optkern::OPTKERN_ISA_NAMESPACE
