// RMSprop, plain or centered, with optional momentum (torch.optim.RMSprop semantics), per element.
#pragma once
#include "optkern/math/common.h"
#include "optkern/step.h"

namespace optkern::OPTKERN_ISA_NAMESPACE::math {

// Twin: optkern.reference.rmsprop
//   g <- -g (maximize);  g <- g + wd*p (wd != 0)
//   v <- alpha*v + (1 - alpha)*(g*g)
//   centered:  a <- alpha*a + (1 - alpha)*g;  d <- sqrt(v - a*a) + eps
//   otherwise: d <- sqrt(v) + eps
//   momentum mu != 0:  b <- mu*b + g/d;  p <- p - lr*b
//   otherwise:         p <- p - lr*(g/d)
template <>
struct Algorithm<RmspropParams> {
  template <class Run>
  static void flags(const RmspropParams<double>& hp, Run&& run) {
    run(hp.maximize, l2_weight_decay(hp), hp.centered, hp.momentum != 0);
  }
  // RmspropParams::needs_array in flags: momentum_buffer with momentum, grad_avg when centered.
  static constexpr bool uses_array(int role, bool, WeightDecay, bool centered, bool momentum) {
    return role < 3 || (role == 3 && momentum) || (role == 4 && centered);
  }
  template <bool kMaximize, WeightDecay kDecay, bool kCentered, bool kMomentum, class T>
  static void element(const RmspropParams<T>& c, T& p, T g, T& square_avg, T& buf, T& grad_avg) {
    g = prologue<kMaximize, kDecay>(c, p, g);
    square_avg = c.alpha * square_avg + c.one_minus_alpha * (g * g);
    T denom;
    if constexpr (kCentered) {
      grad_avg = c.alpha * grad_avg + c.one_minus_alpha * g;
      denom = square_root(square_avg - grad_avg * grad_avg) + c.eps;
    } else {
      denom = square_root(square_avg) + c.eps;
    }
    if constexpr (kMomentum) {
      buf = c.momentum * buf + g / denom;
      p = p - c.lr * buf;
    } else {
      p = p - c.lr * (g / denom);
    }
  }
};

}  // namespace optkern::OPTKERN_ISA_NAMESPACE::math
