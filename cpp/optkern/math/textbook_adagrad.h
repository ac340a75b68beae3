// The textbook's AdaGrad, per element.
#pragma once
#include <cstdint>

#include "optkern/loop.h"
#include "optkern/math/common.h"
#include "optkern/params.h"

namespace optkern::OPTKERN_ISA_NAMESPACE {
namespace math {

template <class T>
struct TextbookAdagradCoefficients {
  T lr, eps;
  explicit TextbookAdagradCoefficients(const TextbookAdagradParams& hp)
      : lr(static_cast<T>(hp.lr)), eps(static_cast<T>(hp.eps)) {}
};

// Twin: optkern.reference.textbook_adagrad
//   h += g*g
//   p -= lr*g / (sqrt(h) + 1e-7)      (NumPy evaluates (lr*g) / (...))
template <class T>
inline void textbook_adagrad(const TextbookAdagradCoefficients<T>& c, T& p, T g, T& h) {
  h = h + g * g;
  p = p - (c.lr * g) / (square_root(h) + c.eps);
}

}  // namespace math

template <class T>
void textbook_adagrad_step(const StepCall& call, const TextbookAdagradParams& hp) {
  const math::TextbookAdagradCoefficients<T> c(hp);
  run_plan<T>(call, [c](T* const* a, std::int64_t i) {
    math::textbook_adagrad(c, a[0][i], a[1][i], a[2][i]);
  });
}

}  // namespace optkern::OPTKERN_ISA_NAMESPACE
