// RMSprop, plain or centered, with optional momentum (torch.optim.RMSprop semantics), per element.
#pragma once
#include <cstdint>

#include "optkern/flags.h"
#include "optkern/loop.h"
#include "optkern/math/common.h"
#include "optkern/params.h"

namespace optkern::OPTKERN_ISA_NAMESPACE {
namespace math {

template <class T>
struct RmspropCoefficients {
  T lr, alpha, one_minus_alpha, eps, weight_decay, momentum;
  explicit RmspropCoefficients(const RmspropParams& hp)
      : lr(static_cast<T>(hp.lr)),
        alpha(static_cast<T>(hp.alpha)),
        one_minus_alpha(static_cast<T>(hp.one_minus_alpha)),
        eps(static_cast<T>(hp.eps)),
        weight_decay(static_cast<T>(hp.weight_decay)),
        momentum(static_cast<T>(hp.momentum)) {}
};

// Twin: optkern.reference.rmsprop
//   g <- -g (maximize);  g <- g + wd*p (wd != 0)
//   v <- alpha*v + (1 - alpha)*(g*g)
//   centered:  a <- alpha*a + (1 - alpha)*g;  d <- sqrt(v - a*a) + eps
//   otherwise: d <- sqrt(v) + eps
//   momentum mu != 0:  b <- mu*b + g/d;  p <- p - lr*b
//   otherwise:         p <- p - lr*(g/d)
template <bool kMaximize, bool kWeightDecay, bool kCentered, bool kMomentum, class T>
inline void rmsprop(const RmspropCoefficients<T>& c, T& p, T g, T& square_avg, T& buf,
                    T& grad_avg) {
  if constexpr (kMaximize) g = -g;
  if constexpr (kWeightDecay) g = g + c.weight_decay * p;
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

}  // namespace math

template <class T>
void rmsprop_step(const StepCall& call, const RmspropParams& hp) {
  const math::RmspropCoefficients<T> c(hp);
  with_flags(
      [&](auto maximize, auto weight_decay, auto centered, auto momentum) {
        run_plan<T>(call, [c](T* const* a, std::int64_t i) {
          math::rmsprop<decltype(maximize)::value, decltype(weight_decay)::value,
                        decltype(centered)::value, decltype(momentum)::value>(
              c, a[0][i], a[1][i], a[2][i], a[3][i], a[4][i]);
        });
      },
      hp.maximize, hp.weight_decay != 0, hp.centered, hp.momentum != 0);
}

}  // namespace optkern::OPTKERN_ISA_NAMESPACE
