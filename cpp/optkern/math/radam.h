// RAdam (torch.optim.RAdam semantics, with optional decoupled weight decay), per element.
#pragma once
#include "optkern/math/common.h"
#include "optkern/step.h"

namespace optkern::OPTKERN_ISA_NAMESPACE::math {

// Twin: optkern.reference.radam
//   g <- -g (maximize)
//   wd != 0:  p <- p*(1 - lr*wd) (decoupled), else g <- g + wd*p
//   m <- beta1*m + (1 - beta1)*g
//   v <- beta2*v + (1 - beta2)*(g*g)
//   rho_t > 5 (rectified):  p <- p - step_size*(m / (sqrt(v) + eps)),
//                           step_size = lr * r_t * sqrt(1 - beta2^t) / (1 - beta1^t)
//   otherwise:              p <- p - step_size*m,  step_size = lr / (1 - beta1^t)
template <>
struct Algorithm<RadamParams> {
  template <class Run>
  static void flags(const RadamParams<double>& hp, Run&& run) {
    run(hp.maximize, l2_or_decoupled_weight_decay(hp), hp.rectified);
  }
  template <bool kMaximize, WeightDecay kDecay, bool kRectified, class T>
  static void element(const RadamParams<T>& c, T& p, T g, T& m, T& v) {
    g = prologue<kMaximize, kDecay>(c, p, g);
    m = c.beta1 * m + c.one_minus_beta1 * g;
    v = c.beta2 * v + c.one_minus_beta2 * (g * g);
    if constexpr (kRectified) {
      p = p - c.step_size * (m / (square_root(v) + c.eps));
    } else {
      p = p - c.step_size * m;
    }
  }
};

}  // namespace optkern::OPTKERN_ISA_NAMESPACE::math
