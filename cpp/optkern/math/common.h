// Element-wise helpers shared by the math headers. Builtins, not <cmath> templates (see
// isa_namespace.h); each rounds exactly like its NumPy counterpart.
#pragma once
#include "optkern/isa_namespace.h"

namespace optkern::OPTKERN_ISA_NAMESPACE::math {

// Correctly rounded square root, like np.sqrt. Vectorizes because the build has -fno-math-errno.
inline float square_root(float x) { return __builtin_sqrtf(x); }
inline double square_root(double x) { return __builtin_sqrt(x); }

// np.maximum: NaN in either argument gives NaN (torch.maximum does the same for AMSGrad).
// Both comparisons are evaluated unconditionally (`|`, not `||`): an ordered comparison may raise
// FE_INVALID, so under the default -ftrapping-math GCC will not speculate a short-circuited one,
// and the select would stay a branch that blocks vectorization.
template <class T>
inline T maximum(T a, T b) {
  const bool a_is_nan = a != a;
  const bool a_is_greater = a > b;
  return (a_is_nan | a_is_greater) ? a : b;
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

}  // namespace optkern::OPTKERN_ISA_NAMESPACE::math
