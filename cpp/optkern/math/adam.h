// Adam, AdamW (decoupled weight decay) and AMSGrad (torch.optim.Adam semantics), per element.
#pragma once
#include "optkern/math/common.h"
#include "optkern/step.h"

namespace optkern::OPTKERN_ISA_NAMESPACE::math {

// Twin: optkern.reference.adam
//   g <- -g (maximize)
//   wd != 0:  p <- p*(1 - lr*wd) (decoupled, AdamW), else g <- g + wd*p
//   m <- beta1*m + (1 - beta1)*g
//   v <- beta2*v + (1 - beta2)*(g*g)
//   amsgrad:  vmax <- max(vmax, v), and vmax stands for v below
//   p <- p - step_size * (m / (sqrt(v) * (1 / sqrt(1 - beta2^t)) + eps)),
//   step_size = lr / (1 - beta1^t). torch divides by sqrt(1 - beta2^t); multiplying by its
//   float64-computed inverse is the same math with one division less per element (the divider
//   and square root share one unit, which bounds this kernel when the arrays are in cache).
template <>
struct Algorithm<AdamParams> {
  template <class Run>
  static void flags(const AdamParams<double>& hp, Run&& run) {
    run(hp.maximize, l2_or_decoupled_weight_decay(hp), hp.amsgrad);
  }
  // AdamParams::needs_array in flags: max_exp_avg_sq with AMSGrad only.
  static constexpr bool uses_array(int role, bool, WeightDecay, bool amsgrad) {
    return role < 4 || amsgrad;
  }
  template <bool kMaximize, WeightDecay kDecay, bool kAmsgrad, class T>
  static void element(const AdamParams<T>& c, T& p, T g, T& m, T& v, T& vmax) {
    g = prologue<kMaximize, kDecay>(c, p, g);
    m = c.beta1 * m + c.one_minus_beta1 * g;
    v = c.beta2 * v + c.one_minus_beta2 * (g * g);
    T second_moment = v;
    if constexpr (kAmsgrad) {
      vmax = maximum(vmax, v);
      second_moment = vmax;
    }
    const T denom = square_root(second_moment) * c.inv_bias_correction2_sqrt + c.eps;
    p = p - c.step_size * (m / denom);
  }
};

}  // namespace optkern::OPTKERN_ISA_NAMESPACE::math
