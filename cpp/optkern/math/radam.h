// RAdam (torch.optim.RAdam semantics, with optional decoupled weight decay), per element.
#pragma once
#include <cstdint>

#include "optkern/flags.h"
#include "optkern/loop.h"
#include "optkern/math/common.h"
#include "optkern/params.h"

namespace optkern::OPTKERN_ISA_NAMESPACE {
namespace math {

template <class T>
struct RadamCoefficients {
  T beta1, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decay_factor, step_size;
  explicit RadamCoefficients(const RadamParams& hp)
      : beta1(static_cast<T>(hp.beta1)),
        one_minus_beta1(static_cast<T>(hp.one_minus_beta1)),
        beta2(static_cast<T>(hp.beta2)),
        one_minus_beta2(static_cast<T>(hp.one_minus_beta2)),
        eps(static_cast<T>(hp.eps)),
        weight_decay(static_cast<T>(hp.weight_decay)),
        decay_factor(static_cast<T>(hp.decay_factor)),
        step_size(static_cast<T>(hp.step_size)) {}
};

// Twin: optkern.reference.radam
//   g <- -g (maximize)
//   wd != 0:  p <- p*(1 - lr*wd) (decoupled), else g <- g + wd*p
//   m <- beta1*m + (1 - beta1)*g
//   v <- beta2*v + (1 - beta2)*(g*g)
//   rho_t > 5 (rectified):  p <- p - step_size*(m / (sqrt(v) + eps)),
//                           step_size = lr * r_t * sqrt(1 - beta2^t) / (1 - beta1^t)
//   otherwise:              p <- p - step_size*m,  step_size = lr / (1 - beta1^t)
template <bool kMaximize, bool kL2, bool kDecoupled, bool kRectified, class T>
inline void radam(const RadamCoefficients<T>& c, T& p, T g, T& m, T& v) {
  if constexpr (kMaximize) g = -g;
  if constexpr (kDecoupled) p = p * c.decay_factor;
  if constexpr (kL2) g = g + c.weight_decay * p;
  m = c.beta1 * m + c.one_minus_beta1 * g;
  v = c.beta2 * v + c.one_minus_beta2 * (g * g);
  if constexpr (kRectified) {
    p = p - c.step_size * (m / (square_root(v) + c.eps));
  } else {
    p = p - c.step_size * m;
  }
}

}  // namespace math

template <class T>
void radam_step(const StepCall& call, const RadamParams& hp) {
  const math::RadamCoefficients<T> c(hp);
  const bool decay = hp.weight_decay != 0;
  with_flags(
      [&](auto maximize, auto l2, auto decoupled, auto rectified) {
        run_plan<T>(call, [c](T* const* a, std::int64_t i) {
          math::radam<decltype(maximize)::value, decltype(l2)::value, decltype(decoupled)::value,
                      decltype(rectified)::value>(c, a[0][i], a[1][i], a[2][i], a[3][i]);
        });
      },
      hp.maximize, decay && !hp.decoupled_weight_decay, decay && hp.decoupled_weight_decay,
      hp.rectified);
}

}  // namespace optkern::OPTKERN_ISA_NAMESPACE
