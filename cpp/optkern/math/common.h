// Element-wise helpers shared by the math headers. Builtins, not <cmath> templates (see
// isa_namespace.h); each rounds exactly like its NumPy counterpart.
#pragma once
#include "optkern/flags.h"
#include "optkern/isa_namespace.h"

namespace optkern::OPTKERN_ISA_NAMESPACE::math {

// Correctly rounded square root, like np.sqrt. Vectorizes because the build has -fno-math-errno.
inline float square_root(float x) { return __builtin_sqrtf(x); }
inline double square_root(double x) { return __builtin_sqrt(x); }

// np.maximum: NaN in either argument gives NaN (torch.maximum does the same for AMSGrad).
// Both comparisons are evaluated unconditionally, each in a select of its own: an ordered
// comparison may raise FE_INVALID, so under the default -ftrapping-math GCC will not speculate a
// short-circuited one, and the select would stay a branch that blocks vectorization. (An OR of the
// two comparisons' bools did not vectorize on AVX2 in a loop that also loads 16-bit arrays: GCC
// found no conversion between the masks of different widths.)
template <class T>
inline T maximum(T a, T b) {
  const T larger = a > b ? a : b;  // b when either is NaN
  return a != a ? a : larger;
}

// np.abs: clears the sign bit (NaN stays NaN).
inline float absolute(float x) { return __builtin_fabsf(x); }
inline double absolute(double x) { return __builtin_fabs(x); }

// np.sign: +1 or -1, +0 for either zero, and NaN for NaN. Branch-free for the same reason as
// maximum: the comparisons become masks and the result a subtraction and one select.
template <class T>
inline T sign(T x) {
  const T positive = static_cast<T>(x > T(0));
  const T negative = static_cast<T>(x < T(0));
  const bool is_nan = x != x;
  return is_nan ? x : positive - negative;
}

// The prologue every algorithm with `maximize` and weight decay starts with, in torch's order:
// the gradient negated (maximize), then the weight decay: L2 adds wd*p to the gradient, decoupled
// scales the parameter by 1 - lr*wd (the decay_factor Python computed). Returns the gradient to
// use. Twin: optkern.reference._prologue. (Lion's torch-style code decays after forming its
// interpolation, which reads neither p nor the decayed value, so decaying first is bit-identical.)
template <bool kMaximize, WeightDecay kDecay, class Coefficients, class T>
inline T prologue(const Coefficients& c, T& p, T g) {
  if constexpr (kMaximize) g = -g;
  if constexpr (kDecay == WeightDecay::kDecoupled) p = p * c.decay_factor;
  if constexpr (kDecay == WeightDecay::kL2) g = g + c.weight_decay * p;
  return g;
}

}  // namespace optkern::OPTKERN_ISA_NAMESPACE::math
