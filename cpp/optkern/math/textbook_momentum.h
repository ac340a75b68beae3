// The textbook's Momentum, per element.
#pragma once
#include <cstdint>

#include "optkern/loop.h"
#include "optkern/params.h"

namespace optkern::OPTKERN_ISA_NAMESPACE {
namespace math {

template <class T>
struct TextbookMomentumCoefficients {
  T lr, momentum;
  explicit TextbookMomentumCoefficients(const TextbookMomentumParams& hp)
      : lr(static_cast<T>(hp.lr)), momentum(static_cast<T>(hp.momentum)) {}
};

// Twin: optkern.reference.textbook_momentum
//   v = momentum*v - lr*g
//   p += v
template <class T>
inline void textbook_momentum(const TextbookMomentumCoefficients<T>& c, T& p, T g, T& v) {
  v = c.momentum * v - c.lr * g;
  p = p + v;
}

}  // namespace math

template <class T>
void textbook_momentum_step(const StepCall& call, const TextbookMomentumParams& hp) {
  const math::TextbookMomentumCoefficients<T> c(hp);
  run_plan<T>(call, [c](T* const* a, std::int64_t i) {
    math::textbook_momentum(c, a[0][i], a[1][i], a[2][i]);
  });
}

}  // namespace optkern::OPTKERN_ISA_NAMESPACE
