// The textbook's Nesterov, per element: the parameter moves with the previous v.
#pragma once
#include <cstdint>

#include "optkern/loop.h"
#include "optkern/params.h"

namespace optkern::OPTKERN_ISA_NAMESPACE {
namespace math {

template <class T>
struct TextbookNesterovCoefficients {
  T lr, momentum, momentum_squared, gradient_scale;
  explicit TextbookNesterovCoefficients(const TextbookNesterovParams& hp)
      : lr(static_cast<T>(hp.lr)),
        momentum(static_cast<T>(hp.momentum)),
        momentum_squared(static_cast<T>(hp.momentum_squared)),
        gradient_scale(static_cast<T>(hp.gradient_scale)) {}
};

// Twin: optkern.reference.textbook_nesterov
//   p += momentum*momentum*v      (momentum*momentum: one float64 scalar)
//   p -= (1 + momentum)*lr*g      ((1 + momentum)*lr: one float64 scalar)
//   v *= momentum
//   v -= lr*g
template <class T>
inline void textbook_nesterov(const TextbookNesterovCoefficients<T>& c, T& p, T g, T& v) {
  p = p + c.momentum_squared * v;
  p = p - c.gradient_scale * g;
  v = v * c.momentum;
  v = v - c.lr * g;
}

}  // namespace math

template <class T>
void textbook_nesterov_step(const StepCall& call, const TextbookNesterovParams& hp) {
  const math::TextbookNesterovCoefficients<T> c(hp);
  run_plan<T>(call, [c](T* const* a, std::int64_t i) {
    math::textbook_nesterov(c, a[0][i], a[1][i], a[2][i]);
  });
}

}  // namespace optkern::OPTKERN_ISA_NAMESPACE
