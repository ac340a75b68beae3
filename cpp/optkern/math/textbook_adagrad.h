// The textbook's AdaGrad, per element.
#pragma once
#include "optkern/math/common.h"
#include "optkern/step.h"

namespace optkern::OPTKERN_ISA_NAMESPACE::math {

// Twin: optkern.reference.textbook_adagrad
//   h += g*g
//   p -= lr*g / (sqrt(h) + 1e-7)      (NumPy evaluates (lr*g) / (...))
template <>
struct Algorithm<TextbookAdagradParams> : NoFlags {
  template <class T>
  static void element(const TextbookAdagradParams<T>& c, T& p, T g, T& h) {
    h = h + g * g;
    p = p - (c.lr * g) / (square_root(h) + c.eps);
  }
};

}  // namespace optkern::OPTKERN_ISA_NAMESPACE::math
