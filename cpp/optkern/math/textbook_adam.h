// The textbook's Adam, per element.
#pragma once
#include "optkern/math/common.h"
#include "optkern/step.h"

namespace optkern::OPTKERN_ISA_NAMESPACE::math {

// Twin: optkern.reference.textbook_adam
//   m += (1 - beta1)*(g - m)
//   v += (1 - beta2)*(g**2 - v)
//   p -= lr_t*m / (sqrt(v) + 1e-7)
// With kWide (NumPy 2, float32 arrays) the last line is float64: p, m and the float32 denominator
// are widened exactly, and the result is rounded to float32 once, as `params[key] -= <float64
// array>` does. lr_t is double in every Params instantiation (params.h); the narrow update rounds
// it to T, a loop-invariant conversion the compiler hoists out of the loop.
template <>
struct Algorithm<TextbookAdamParams> {
  template <class Run>
  static void flags(const TextbookAdamParams<double>& hp, Run&& run) {
    run(hp.update_in_float64);
  }
  template <bool kWide, class T>
  static void element(const TextbookAdamParams<T>& c, T& p, T g, T& m, T& v) {
    m = m + c.one_minus_beta1 * (g - m);
    v = v + c.one_minus_beta2 * (g * g - v);
    const T denom = square_root(v) + c.eps;
    if constexpr (kWide) {
      p = static_cast<T>(static_cast<double>(p) -
                         (c.lr_t * static_cast<double>(m)) / static_cast<double>(denom));
    } else {
      p = p - (static_cast<T>(c.lr_t) * m) / denom;
    }
  }
};

}  // namespace optkern::OPTKERN_ISA_NAMESPACE::math
