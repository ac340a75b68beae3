// Adam, AdamW (decoupled weight decay) and AMSGrad (torch.optim.Adam semantics), per element.
#pragma once
#include <cstdint>

#include "optkern/flags.h"
#include "optkern/loop.h"
#include "optkern/math/common.h"
#include "optkern/params.h"

namespace optkern::OPTKERN_ISA_NAMESPACE {
namespace math {

template <class T>
struct AdamCoefficients {
  T beta1, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decay_factor, step_size,
      inv_bias_correction2_sqrt;
  explicit AdamCoefficients(const AdamParams& hp)
      : beta1(static_cast<T>(hp.beta1)),
        one_minus_beta1(static_cast<T>(hp.one_minus_beta1)),
        beta2(static_cast<T>(hp.beta2)),
        one_minus_beta2(static_cast<T>(hp.one_minus_beta2)),
        eps(static_cast<T>(hp.eps)),
        weight_decay(static_cast<T>(hp.weight_decay)),
        decay_factor(static_cast<T>(hp.decay_factor)),
        step_size(static_cast<T>(hp.step_size)),
        inv_bias_correction2_sqrt(static_cast<T>(hp.inv_bias_correction2_sqrt)) {}
};

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
template <bool kMaximize, bool kL2, bool kDecoupled, bool kAmsgrad, class T>
inline void adam(const AdamCoefficients<T>& c, T& p, T g, T& m, T& v, T& vmax) {
  if constexpr (kMaximize) g = -g;
  if constexpr (kDecoupled) p = p * c.decay_factor;
  if constexpr (kL2) g = g + c.weight_decay * p;
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

}  // namespace math

template <class T>
void adam_step(const StepCall& call, const AdamParams& hp) {
  const math::AdamCoefficients<T> c(hp);
  const bool decay = hp.weight_decay != 0;
  with_flags(
      [&](auto maximize, auto l2, auto decoupled, auto amsgrad) {
        run_plan<T>(call, [c](T* const* a, std::int64_t i) {
          math::adam<decltype(maximize)::value, decltype(l2)::value, decltype(decoupled)::value,
                     decltype(amsgrad)::value>(c, a[0][i], a[1][i], a[2][i], a[3][i], a[4][i]);
        });
      },
      hp.maximize, decay && !hp.decoupled_weight_decay, decay && hp.decoupled_weight_decay,
      hp.amsgrad);
}

}  // namespace optkern::OPTKERN_ISA_NAMESPACE
