// Lion ("Symbolic Discovery of Optimization Algorithms", Chen et al., 2023), per element.
#pragma once
#include "optkern/math/common.h"
#include "optkern/step.h"

namespace optkern::OPTKERN_ISA_NAMESPACE::math {

// Twin: optkern.reference.lion
//   g <- -g (maximize);  p <- p*(1 - lr*wd) (wd != 0: Lion's decay is always decoupled)
//   c <- beta1*m + (1 - beta1)*g
//   p <- p - lr*sign(c)                   (sign(0) = 0, sign(NaN) = NaN)
//   m <- beta2*m + (1 - beta2)*g
// The paper decays p after forming c; c reads neither p nor the decay, so the order is the same.
template <>
struct Algorithm<LionParams> {
  template <class Run>
  static void flags(const LionParams<double>& hp, Run&& run) {
    run(hp.maximize, decoupled_weight_decay(hp));
  }
  template <bool kMaximize, WeightDecay kDecay, class T>
  static void element(const LionParams<T>& c, T& p, T g, T& m) {
    g = prologue<kMaximize, kDecay>(c, p, g);
    const T interpolated = c.beta1 * m + c.one_minus_beta1 * g;
    p = p - c.lr * sign(interpolated);
    m = c.beta2 * m + c.one_minus_beta2 * g;
  }
};

}  // namespace optkern::OPTKERN_ISA_NAMESPACE::math
