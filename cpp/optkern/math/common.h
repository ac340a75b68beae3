// Element-wise helpers shared by the math headers. Builtins, not <cmath> templates (see
// isa_namespace.h); each rounds exactly like its NumPy counterpart.
#pragma once
#include "optkern/isa_namespace.h"

namespace optkern::OPTKERN_ISA_NAMESPACE::math {

// Correctly rounded square root, like np.sqrt. Vectorizes because the build has -fno-math-errno.
inline float square_root(float x) { return __builtin_sqrtf(x); }
inline double square_root(double x) { return __builtin_sqrt(x); }

// np.maximum: NaN in either argument gives NaN (torch.maximum does the same for AMSGrad).
template <class T>
inline T maximum(T a, T b) {
  return (a != a || a > b) ? a : b;
}

// np.abs: clears the sign bit (NaN stays NaN).
inline float absolute(float x) { return __builtin_fabsf(x); }
inline double absolute(double x) { return __builtin_fabs(x); }

// np.sign: +1 or -1, +0 for either zero, and NaN for NaN.
template <class T>
inline T sign(T x) {
  return x > T(0) ? T(1) : (x < T(0) ? T(-1) : (x == x ? T(0) : x));
}

}  // namespace optkern::OPTKERN_ISA_NAMESPACE::math
