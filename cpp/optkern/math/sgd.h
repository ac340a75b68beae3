// SGD, Momentum and Nesterov momentum (torch.optim.SGD semantics), per element.
#pragma once
#include "optkern/math/common.h"
#include "optkern/step.h"

namespace optkern::OPTKERN_ISA_NAMESPACE::math {

// Twin: optkern.reference.sgd
//   g <- -g (maximize);  g <- g + wd*p (wd != 0)
//   with momentum mu != 0:  b <- g on the first step, else b <- mu*b + (1 - dampening)*g
//                           g <- g + mu*b (nesterov), else g <- b
//   p <- p - lr*g
template <>
struct Algorithm<SgdParams> {
  template <class Run>
  static void flags(const SgdParams<double>& hp, Run&& run) {
    const bool momentum = hp.momentum != 0;
    run(hp.maximize, l2_weight_decay(hp), momentum, momentum && hp.nesterov,
        momentum && hp.first_step);
  }
  // nesterov and first_step mean nothing without momentum: 20 variants, not 32.
  static constexpr bool reachable(bool, WeightDecay, bool momentum, bool nesterov,
                                  bool first_step) {
    return momentum || (!nesterov && !first_step);
  }
  // SgdParams::needs_array in flags: the momentum buffer with momentum only.
  static constexpr bool uses_array(int role, bool, WeightDecay, bool momentum, bool, bool) {
    return role < 2 || momentum;
  }
  template <bool kMaximize, WeightDecay kDecay, bool kMomentum, bool kNesterov, bool kFirstStep,
            class T>
  static void element(const SgdParams<T>& c, T& p, T g, T& buf) {
    g = prologue<kMaximize, kDecay>(c, p, g);
    if constexpr (kMomentum) {
      if constexpr (kFirstStep) {
        buf = g;
      } else {
        buf = c.momentum * buf + c.one_minus_dampening * g;
      }
      if constexpr (kNesterov) {
        g = g + c.momentum * buf;
      } else {
        g = buf;
      }
    }
    p = p - c.lr * g;
  }
};

}  // namespace optkern::OPTKERN_ISA_NAMESPACE::math
