// The gradient statistics pass of a step (max_grad_norm=, grad_scale=, skip_if_nonfinite=) and
// the standalone gradient functions (optkern.get_total_norm, clip_grad_norm_, clip_grad_value_):
// gradients cut into blocks in a fixed order, the active ISA's gradient kernels over them
// (optkern/grad_ops.h), and a norm's block partials combined in block order, so that the norm is
// the same bits for every thread count and ISA. optkern.reference.grad_norm is its twin.
#pragma once
#include <cstdint>
#include <vector>

#include "optkern/grad_call.h"

namespace optkern {

// One gradient: its elements, contiguous. For the two-array kernels also the array read beside
// it (same size), else nullptr.
struct GradArray {
  void* data;
  std::int64_t n;
  DType dtype;
  const void* source = nullptr;
  DType source_dtype = kFloat32;
};

struct GradNorm {
  double norm;  // the norm of all the gradients together (inf or NaN if any element is)
  bool finite;  // every element of every gradient is finite
};

// Plans and runs the gradient kernels; holds its buffers, so that a PreparedStep's statistics pass
// allocates nothing after its first step. Runs without the GIL.
class GradPass {
 public:
  // `threads`: at most this many; fewer for small gradients (min_elements_per_thread per thread).
  GradNorm norm(const std::vector<GradArray>& grads, NormKind kind, int threads);
  // The block partials norm() combines, and per block whether its elements are all finite, in
  // block order (optkern.distributed adds them up across ranks in the same order).
  void partials(const std::vector<GradArray>& grads, NormKind kind, int threads,
                std::vector<double>& partials, std::vector<std::uint8_t>& finite);
  void scale(const std::vector<GradArray>& grads, double factor, int threads);
  void clamp(const std::vector<GradArray>& grads, double bound, int threads);
  // data += source * scale; data = lerp(data, source, weight) (optkern/averaging.h).
  void accumulate(const std::vector<GradArray>& pairs, double scale, int threads);
  void ema_update(const std::vector<GradArray>& pairs, double weight, int threads);

 private:
  GradCall plan(const std::vector<GradArray>& grads, int threads, double operand);
  std::vector<GradBlock> blocks_;
  std::vector<double> partials_;
  std::vector<std::uint8_t> finite_;
};

// torch's clip coefficient for a norm: max_norm / (norm + 1e-6), at most 1 (NaN for a NaN norm,
// as torch's clamp leaves it).
double clip_coefficient(double max_norm, double norm);

}  // namespace optkern
