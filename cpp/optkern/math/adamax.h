// Adamax (torch.optim.Adamax semantics), per element.
#pragma once
#include "optkern/math/common.h"
#include "optkern/step.h"

namespace optkern::OPTKERN_ISA_NAMESPACE::math {

// Twin: optkern.reference.adamax
//   g <- -g (maximize);  g <- g + wd*p (wd != 0)
//   m <- beta1*m + (1 - beta1)*g
//   u <- max(beta2*u, |g| + eps)          (NaN propagates, as torch.maximum)
//   p <- p - clr*(m / u),                 clr = lr / (1 - beta1^t): only m is bias-corrected
template <>
struct Algorithm<AdamaxParams> {
  template <class Run>
  static void flags(const AdamaxParams<double>& hp, Run&& run) {
    run(hp.maximize, l2_weight_decay(hp));
  }
  template <bool kMaximize, WeightDecay kDecay, class T>
  static void element(const AdamaxParams<T>& c, T& p, T g, T& exp_avg, T& exp_inf) {
    g = prologue<kMaximize, kDecay>(c, p, g);
    exp_avg = c.beta1 * exp_avg + c.one_minus_beta1 * g;
    exp_inf = maximum(c.beta2 * exp_inf, absolute(g) + c.eps);
    p = p - c.clr * (exp_avg / exp_inf);
  }
};

}  // namespace optkern::OPTKERN_ISA_NAMESPACE::math
