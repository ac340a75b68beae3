// Adamax (torch.optim.Adamax semantics), per element.
#pragma once
#include <cstdint>

#include "optkern/flags.h"
#include "optkern/loop.h"
#include "optkern/math/common.h"
#include "optkern/params.h"

namespace optkern::OPTKERN_ISA_NAMESPACE {
namespace math {

template <class T>
struct AdamaxCoefficients {
  T beta1, one_minus_beta1, beta2, eps, weight_decay, clr;
  explicit AdamaxCoefficients(const AdamaxParams& hp)
      : beta1(static_cast<T>(hp.beta1)),
        one_minus_beta1(static_cast<T>(hp.one_minus_beta1)),
        beta2(static_cast<T>(hp.beta2)),
        eps(static_cast<T>(hp.eps)),
        weight_decay(static_cast<T>(hp.weight_decay)),
        clr(static_cast<T>(hp.clr)) {}
};

// Twin: optkern.reference.adamax
//   g <- -g (maximize);  g <- g + wd*p (wd != 0)
//   m <- beta1*m + (1 - beta1)*g
//   u <- max(beta2*u, |g| + eps)          (NaN propagates, as torch.maximum)
//   p <- p - clr*(m / u),                 clr = lr / (1 - beta1^t): only m is bias-corrected
template <bool kMaximize, bool kWeightDecay, class T>
inline void adamax(const AdamaxCoefficients<T>& c, T& p, T g, T& exp_avg, T& exp_inf) {
  if constexpr (kMaximize) g = -g;
  if constexpr (kWeightDecay) g = g + c.weight_decay * p;
  exp_avg = c.beta1 * exp_avg + c.one_minus_beta1 * g;
  exp_inf = maximum(c.beta2 * exp_inf, absolute(g) + c.eps);
  p = p - c.clr * (exp_avg / exp_inf);
}

}  // namespace math

template <class T>
void adamax_step(const StepCall& call, const AdamaxParams& hp) {
  const math::AdamaxCoefficients<T> c(hp);
  with_flags(
      [&](auto maximize, auto weight_decay) {
        run_plan<T>(call, [c](T* const* a, std::int64_t i) {
          math::adamax<decltype(maximize)::value, decltype(weight_decay)::value>(
              c, a[0][i], a[1][i], a[2][i], a[3][i]);
        });
      },
      hp.maximize, hp.weight_decay != 0);
}

}  // namespace optkern::OPTKERN_ISA_NAMESPACE
