// Adagrad (torch.optim.Adagrad semantics), per element.
#pragma once
#include "optkern/math/common.h"
#include "optkern/step.h"

namespace optkern::OPTKERN_ISA_NAMESPACE::math {

// Twin: optkern.reference.adagrad
//   g <- -g (maximize);  g <- g + wd*p (wd != 0)
//   s <- s + g*g
//   p <- p - clr * (g / (sqrt(s) + eps)),   clr = lr / (1 + (t - 1)*lr_decay)
template <>
struct Algorithm<AdagradParams> {
  template <class Run>
  static void flags(const AdagradParams<double>& hp, Run&& run) {
    run(hp.maximize, l2_weight_decay(hp));
  }
  template <bool kMaximize, WeightDecay kDecay, class T>
  static void element(const AdagradParams<T>& c, T& p, T g, T& sum) {
    g = prologue<kMaximize, kDecay>(c, p, g);
    sum = sum + g * g;
    const T std_dev = square_root(sum) + c.eps;
    p = p - c.clr * (g / std_dev);
  }
};

}  // namespace optkern::OPTKERN_ISA_NAMESPACE::math
