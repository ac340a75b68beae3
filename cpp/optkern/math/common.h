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

}  // namespace optkern::OPTKERN_ISA_NAMESPACE::math
