// Adadelta (torch.optim.Adadelta semantics), per element.
#pragma once
#include <cstdint>

#include "optkern/flags.h"
#include "optkern/loop.h"
#include "optkern/math/common.h"
#include "optkern/params.h"

namespace optkern::OPTKERN_ISA_NAMESPACE {
namespace math {

template <class T>
struct AdadeltaCoefficients {
  T lr, rho, one_minus_rho, eps, weight_decay;
  explicit AdadeltaCoefficients(const AdadeltaParams& hp)
      : lr(static_cast<T>(hp.lr)),
        rho(static_cast<T>(hp.rho)),
        one_minus_rho(static_cast<T>(hp.one_minus_rho)),
        eps(static_cast<T>(hp.eps)),
        weight_decay(static_cast<T>(hp.weight_decay)) {}
};

// Twin: optkern.reference.adadelta
//   g <- -g (maximize);  g <- g + wd*p (wd != 0)
//   v <- rho*v + (1 - rho)*(g*g)
//   d <- (sqrt(u + eps) / sqrt(v + eps)) * g       (eps inside both roots)
//   u <- rho*u + (1 - rho)*(d*d)                  (u accumulates the unscaled update)
//   p <- p - lr*d
template <bool kMaximize, bool kWeightDecay, class T>
inline void adadelta(const AdadeltaCoefficients<T>& c, T& p, T g, T& square_avg, T& acc_delta) {
  if constexpr (kMaximize) g = -g;
  if constexpr (kWeightDecay) g = g + c.weight_decay * p;
  square_avg = c.rho * square_avg + c.one_minus_rho * (g * g);
  const T std_dev = square_root(square_avg + c.eps);
  const T delta = (square_root(acc_delta + c.eps) / std_dev) * g;
  acc_delta = c.rho * acc_delta + c.one_minus_rho * (delta * delta);
  p = p - c.lr * delta;
}

}  // namespace math

template <class T>
void adadelta_step(const StepCall& call, const AdadeltaParams& hp) {
  const math::AdadeltaCoefficients<T> c(hp);
  with_flags(
      [&](auto maximize, auto weight_decay) {
        run_plan<T>(call, [c](T* const* a, std::int64_t i) {
          math::adadelta<decltype(maximize)::value, decltype(weight_decay)::value>(
              c, a[0][i], a[1][i], a[2][i], a[3][i]);
        });
      },
      hp.maximize, hp.weight_decay != 0);
}

}  // namespace optkern::OPTKERN_ISA_NAMESPACE
