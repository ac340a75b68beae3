// The textbook's Adam, per element.
#pragma once
#include <cstdint>

#include "optkern/flags.h"
#include "optkern/loop.h"
#include "optkern/math/common.h"
#include "optkern/params.h"

namespace optkern::OPTKERN_ISA_NAMESPACE {
namespace math {

template <class T>
struct TextbookAdamCoefficients {
  T lr_t, one_minus_beta1, one_minus_beta2, eps;
  double lr_t_wide;  // lr_t as the float64 scalar NumPy 2 keeps it (see TextbookAdamParams)
  explicit TextbookAdamCoefficients(const TextbookAdamParams& hp)
      : lr_t(static_cast<T>(hp.lr_t)),
        one_minus_beta1(static_cast<T>(hp.one_minus_beta1)),
        one_minus_beta2(static_cast<T>(hp.one_minus_beta2)),
        eps(static_cast<T>(hp.eps)),
        lr_t_wide(hp.lr_t) {}
};

// Twin: optkern.reference.textbook_adam
//   m += (1 - beta1)*(g - m)
//   v += (1 - beta2)*(g**2 - v)
//   p -= lr_t*m / (sqrt(v) + 1e-7)
// With kWide (NumPy 2, float32 arrays) the last line is float64: p, m and the float32 denominator
// are widened exactly, and the result is rounded to float32 once, as `params[key] -= <float64
// array>` does.
template <bool kWide, class T>
inline void textbook_adam(const TextbookAdamCoefficients<T>& c, T& p, T g, T& m, T& v) {
  m = m + c.one_minus_beta1 * (g - m);
  v = v + c.one_minus_beta2 * (g * g - v);
  const T denom = square_root(v) + c.eps;
  if constexpr (kWide) {
    p = static_cast<T>(static_cast<double>(p) -
                       (c.lr_t_wide * static_cast<double>(m)) / static_cast<double>(denom));
  } else {
    p = p - (c.lr_t * m) / denom;
  }
}

}  // namespace math

template <class T>
void textbook_adam_step(const StepCall& call, const TextbookAdamParams& hp) {
  const math::TextbookAdamCoefficients<T> c(hp);
  with_flags(
      [&](auto wide) {
        run_plan<T>(call, [c](T* const* a, std::int64_t i) {
          math::textbook_adam<decltype(wide)::value>(c, a[0][i], a[1][i], a[2][i], a[3][i]);
        });
      },
      hp.update_in_float64);
}

}  // namespace optkern::OPTKERN_ISA_NAMESPACE
