// NAdam (torch.optim.NAdam semantics, with optional decoupled weight decay), per element.
#pragma once
#include <cstdint>

#include "optkern/flags.h"
#include "optkern/loop.h"
#include "optkern/math/common.h"
#include "optkern/params.h"

namespace optkern::OPTKERN_ISA_NAMESPACE {
namespace math {

template <class T>
struct NadamCoefficients {
  T beta1, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decay_factor,
      inv_bias_correction2, grad_coef, exp_avg_coef;
  explicit NadamCoefficients(const NadamParams& hp)
      : beta1(static_cast<T>(hp.beta1)),
        one_minus_beta1(static_cast<T>(hp.one_minus_beta1)),
        beta2(static_cast<T>(hp.beta2)),
        one_minus_beta2(static_cast<T>(hp.one_minus_beta2)),
        eps(static_cast<T>(hp.eps)),
        weight_decay(static_cast<T>(hp.weight_decay)),
        decay_factor(static_cast<T>(hp.decay_factor)),
        inv_bias_correction2(static_cast<T>(hp.inv_bias_correction2)),
        grad_coef(static_cast<T>(hp.grad_coef)),
        exp_avg_coef(static_cast<T>(hp.exp_avg_coef)) {}
};

// Twin: optkern.reference.nadam
//   g <- -g (maximize)
//   wd != 0:  p <- p*(1 - lr*wd) (decoupled), else g <- g + wd*p
//   m <- beta1*m + (1 - beta1)*g
//   v <- beta2*v + (1 - beta2)*(g*g)
//   d <- sqrt(v * (1 / (1 - beta2^t))) + eps
//   p <- p - (grad_coef*g + exp_avg_coef*m) / d     (grad_coef, exp_avg_coef: the mu schedule)
// torch applies the two terms as two addcdiv calls (two divisions); this is the same math with
// one division and one multiply fewer per element.
template <bool kMaximize, bool kL2, bool kDecoupled, class T>
inline void nadam(const NadamCoefficients<T>& c, T& p, T g, T& m, T& v) {
  if constexpr (kMaximize) g = -g;
  if constexpr (kDecoupled) p = p * c.decay_factor;
  if constexpr (kL2) g = g + c.weight_decay * p;
  m = c.beta1 * m + c.one_minus_beta1 * g;
  v = c.beta2 * v + c.one_minus_beta2 * (g * g);
  const T denom = square_root(v * c.inv_bias_correction2) + c.eps;
  p = p - (c.grad_coef * g + c.exp_avg_coef * m) / denom;
}

}  // namespace math

template <class T>
void nadam_step(const StepCall& call, const NadamParams& hp) {
  const math::NadamCoefficients<T> c(hp);
  const bool decay = hp.weight_decay != 0;
  with_flags(
      [&](auto maximize, auto l2, auto decoupled) {
        run_plan<T>(call, [c](T* const* a, std::int64_t i) {
          math::nadam<decltype(maximize)::value, decltype(l2)::value, decltype(decoupled)::value>(
              c, a[0][i], a[1][i], a[2][i], a[3][i]);
        });
      },
      hp.maximize, decay && !hp.decoupled_weight_decay, decay && hp.decoupled_weight_decay);
}

}  // namespace optkern::OPTKERN_ISA_NAMESPACE
