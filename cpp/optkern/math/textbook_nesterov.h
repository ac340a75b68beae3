// The textbook's Nesterov, per element: the parameter moves with the previous v.
#pragma once
#include "optkern/step.h"

namespace optkern::OPTKERN_ISA_NAMESPACE::math {

// Twin: optkern.reference.textbook_nesterov
//   p += momentum*momentum*v      (momentum*momentum: one float64 scalar)
//   p -= (1 + momentum)*lr*g      ((1 + momentum)*lr: one float64 scalar)
//   v *= momentum
//   v -= lr*g
template <>
struct Algorithm<TextbookNesterovParams> : NoFlags {
  template <class T>
  static void element(const TextbookNesterovParams<T>& c, T& p, T g, T& v) {
    p = p + c.momentum_squared * v;
    p = p - c.gradient_scale * g;
    v = v * c.momentum;
    v = v - c.lr * g;
  }
};

}  // namespace optkern::OPTKERN_ISA_NAMESPACE::math
