// SGD, Momentum and Nesterov momentum (torch.optim.SGD semantics), per element.
#pragma once
#include <cstdint>

#include "optkern/flags.h"
#include "optkern/loop.h"
#include "optkern/params.h"

namespace optkern::OPTKERN_ISA_NAMESPACE {
namespace math {

template <class T>
struct SgdCoefficients {
  T lr, momentum, one_minus_dampening, weight_decay;
  explicit SgdCoefficients(const SgdParams& hp)
      : lr(static_cast<T>(hp.lr)),
        momentum(static_cast<T>(hp.momentum)),
        one_minus_dampening(static_cast<T>(hp.one_minus_dampening)),
        weight_decay(static_cast<T>(hp.weight_decay)) {}
};

// Twin: optkern.reference.sgd
//   g <- -g (maximize);  g <- g + wd*p (wd != 0)
//   with momentum mu != 0:  b <- g on the first step, else b <- mu*b + (1 - dampening)*g
//                           g <- g + mu*b (nesterov), else g <- b
//   p <- p - lr*g
template <bool kMaximize, bool kWeightDecay, bool kMomentum, bool kNesterov, bool kFirstStep,
          class T>
inline void sgd(const SgdCoefficients<T>& c, T& p, T g, T& buf) {
  if constexpr (kMaximize) g = -g;
  if constexpr (kWeightDecay) g = g + c.weight_decay * p;
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

}  // namespace math

template <class T>
void sgd_step(const StepCall& call, const SgdParams& hp) {
  const math::SgdCoefficients<T> c(hp);
  const bool momentum = hp.momentum != 0;
  with_flags(
      [&](auto maximize, auto weight_decay, auto use_momentum, auto nesterov, auto first_step) {
        run_plan<T>(call, [c](T* const* a, std::int64_t i) {
          math::sgd<decltype(maximize)::value, decltype(weight_decay)::value,
                    decltype(use_momentum)::value, decltype(nesterov)::value,
                    decltype(first_step)::value>(c, a[0][i], a[1][i], a[2][i]);
        });
      },
      hp.maximize, hp.weight_decay != 0, momentum, momentum && hp.nesterov,
      momentum && hp.first_step);
}

}  // namespace optkern::OPTKERN_ISA_NAMESPACE
