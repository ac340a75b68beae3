// The textbook's RMSprop, per element.
#pragma once
#include "optkern/math/common.h"
#include "optkern/step.h"

namespace optkern::OPTKERN_ISA_NAMESPACE::math {

// Twin: optkern.reference.textbook_rmsprop
//   h *= decay_rate
//   h += (1 - decay_rate)*g*g         (NumPy evaluates ((1 - decay_rate)*g)*g)
//   p -= lr*g / (sqrt(h) + 1e-7)
template <>
struct Algorithm<TextbookRmspropParams> : NoFlags {
  template <class T>
  static void element(const TextbookRmspropParams<T>& c, T& p, T g, T& h) {
    h = h * c.decay_rate;
    h = h + (c.one_minus_decay_rate * g) * g;
    p = p - (c.lr * g) / (square_root(h) + c.eps);
  }
};

}  // namespace optkern::OPTKERN_ISA_NAMESPACE::math
