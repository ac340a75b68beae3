// Adagrad (torch.optim.Adagrad semantics), per element.
#pragma once
#include <cstdint>

#include "optkern/flags.h"
#include "optkern/loop.h"
#include "optkern/math/common.h"
#include "optkern/params.h"

namespace optkern::OPTKERN_ISA_NAMESPACE {
namespace math {

template <class T>
struct AdagradCoefficients {
  T clr, eps, weight_decay;
  explicit AdagradCoefficients(const AdagradParams& hp)
      : clr(static_cast<T>(hp.clr)),
        eps(static_cast<T>(hp.eps)),
        weight_decay(static_cast<T>(hp.weight_decay)) {}
};

// Twin: optkern.reference.adagrad
//   g <- -g (maximize);  g <- g + wd*p (wd != 0)
//   s <- s + g*g
//   p <- p - clr * (g / (sqrt(s) + eps)),   clr = lr / (1 + (t - 1)*lr_decay)
template <bool kMaximize, bool kWeightDecay, class T>
inline void adagrad(const AdagradCoefficients<T>& c, T& p, T g, T& sum) {
  if constexpr (kMaximize) g = -g;
  if constexpr (kWeightDecay) g = g + c.weight_decay * p;
  sum = sum + g * g;
  const T std_dev = square_root(sum) + c.eps;
  p = p - c.clr * (g / std_dev);
}

}  // namespace math

template <class T>
void adagrad_step(const StepCall& call, const AdagradParams& hp) {
  const math::AdagradCoefficients<T> c(hp);
  with_flags(
      [&](auto maximize, auto weight_decay) {
        run_plan<T>(call, [c](T* const* a, std::int64_t i) {
          math::adagrad<decltype(maximize)::value, decltype(weight_decay)::value>(c, a[0][i],
                                                                                  a[1][i], a[2][i]);
        });
      },
      hp.maximize, hp.weight_decay != 0);
}

}  // namespace optkern::OPTKERN_ISA_NAMESPACE
