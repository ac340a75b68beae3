// Adadelta (torch.optim.Adadelta semantics), per element.
#pragma once
#include "optkern/math/common.h"
#include "optkern/step.h"

namespace optkern::OPTKERN_ISA_NAMESPACE::math {

// Twin: optkern.reference.adadelta
//   g <- -g (maximize);  g <- g + wd*p (wd != 0)
//   v <- rho*v + (1 - rho)*(g*g)
//   d <- (sqrt(u + eps) / sqrt(v + eps)) * g       (eps inside both roots)
//   u <- rho*u + (1 - rho)*(d*d)                  (u accumulates the unscaled update)
//   p <- p - lr*d
template <>
struct Algorithm<AdadeltaParams> {
  template <class Run>
  static void flags(const AdadeltaParams<double>& hp, Run&& run) {
    run(hp.maximize, l2_weight_decay(hp));
  }
  template <bool kMaximize, WeightDecay kDecay, class T>
  static void element(const AdadeltaParams<T>& c, T& p, T g, T& square_avg, T& acc_delta) {
    g = prologue<kMaximize, kDecay>(c, p, g);
    square_avg = c.rho * square_avg + c.one_minus_rho * (g * g);
    const T std_dev = square_root(square_avg + c.eps);
    const T delta = (square_root(acc_delta + c.eps) / std_dev) * g;
    acc_delta = c.rho * acc_delta + c.one_minus_rho * (delta * delta);
    p = p - c.lr * delta;
  }
};

}  // namespace optkern::OPTKERN_ISA_NAMESPACE::math
