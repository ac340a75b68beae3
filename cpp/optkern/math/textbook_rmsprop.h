// The textbook's RMSprop, per element.
#pragma once
#include <cstdint>

#include "optkern/loop.h"
#include "optkern/math/common.h"
#include "optkern/params.h"

namespace optkern::OPTKERN_ISA_NAMESPACE {
namespace math {

template <class T>
struct TextbookRmspropCoefficients {
  T lr, decay_rate, one_minus_decay_rate, eps;
  explicit TextbookRmspropCoefficients(const TextbookRmspropParams& hp)
      : lr(static_cast<T>(hp.lr)),
        decay_rate(static_cast<T>(hp.decay_rate)),
        one_minus_decay_rate(static_cast<T>(hp.one_minus_decay_rate)),
        eps(static_cast<T>(hp.eps)) {}
};

// Twin: optkern.reference.textbook_rmsprop
//   h *= decay_rate
//   h += (1 - decay_rate)*g*g         (NumPy evaluates ((1 - decay_rate)*g)*g)
//   p -= lr*g / (sqrt(h) + 1e-7)
template <class T>
inline void textbook_rmsprop(const TextbookRmspropCoefficients<T>& c, T& p, T g, T& h) {
  h = h * c.decay_rate;
  h = h + (c.one_minus_decay_rate * g) * g;
  p = p - (c.lr * g) / (square_root(h) + c.eps);
}

}  // namespace math

template <class T>
void textbook_rmsprop_step(const StepCall& call, const TextbookRmspropParams& hp) {
  const math::TextbookRmspropCoefficients<T> c(hp);
  run_plan<T>(call, [c](T* const* a, std::int64_t i) {
    math::textbook_rmsprop(c, a[0][i], a[1][i], a[2][i]);
  });
}

}  // namespace optkern::OPTKERN_ISA_NAMESPACE
