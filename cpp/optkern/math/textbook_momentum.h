// The textbook's Momentum, per element.
#pragma once
#include "optkern/step.h"

namespace optkern::OPTKERN_ISA_NAMESPACE::math {

// Twin: optkern.reference.textbook_momentum
//   v = momentum*v - lr*g
//   p += v
template <>
struct Algorithm<TextbookMomentumParams> : NoFlags {
  template <class T>
  static void element(const TextbookMomentumParams<T>& c, T& p, T g, T& v) {
    v = c.momentum * v - c.lr * g;
    p = p + v;
  }
};

}  // namespace optkern::OPTKERN_ISA_NAMESPACE::math
