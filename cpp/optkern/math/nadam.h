// NAdam (torch.optim.NAdam semantics, with optional decoupled weight decay), per element.
#pragma once
#include "optkern/math/common.h"
#include "optkern/step.h"

namespace optkern::OPTKERN_ISA_NAMESPACE::math {

// Twin: optkern.reference.nadam
//   g <- -g (maximize)
//   wd != 0:  p <- p*(1 - lr*wd) (decoupled), else g <- g + wd*p
//   m <- beta1*m + (1 - beta1)*g
//   v <- beta2*v + (1 - beta2)*(g*g)
//   d <- sqrt(v * (1 / (1 - beta2^t))) + eps
//   p <- p - (grad_coef*g + exp_avg_coef*m) / d     (grad_coef, exp_avg_coef: the mu schedule)
// torch applies the two terms as two addcdiv calls (two divisions); this is the same math with
// one division and one multiply fewer per element.
template <>
struct Algorithm<NadamParams> {
  template <class Run>
  static void flags(const NadamParams<double>& hp, Run&& run) {
    run(hp.maximize, l2_or_decoupled_weight_decay(hp));
  }
  template <bool kMaximize, WeightDecay kDecay, class T>
  static void element(const NadamParams<T>& c, T& p, T g, T& m, T& v) {
    g = prologue<kMaximize, kDecay>(c, p, g);
    m = c.beta1 * m + c.one_minus_beta1 * g;
    v = c.beta2 * v + c.one_minus_beta2 * (g * g);
    const T denom = square_root(v * c.inv_bias_correction2) + c.eps;
    p = p - (c.grad_coef * g + c.exp_avg_coef * m) / denom;
  }
};

}  // namespace optkern::OPTKERN_ISA_NAMESPACE::math
