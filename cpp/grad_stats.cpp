#include "grad_stats.h"

#include <algorithm>
#include <cmath>

#include "dispatch.h"
#include "work_plan_builder.h"

namespace optkern {

GradCall GradPass::plan(const std::vector<GradArray>& grads, int threads, double operand) {
  blocks_.clear();
  std::int64_t total = 0;
  const auto bytes = [](DType dtype) -> std::int64_t {
    return dtype == kFloat64 ? 8 : dtype == kFloat32 ? 4 : 2;
  };
  for (const GradArray& grad : grads) {
    for (std::int64_t begin = 0; begin < grad.n; begin += kNormBlock) {
      const void* source = grad.source == nullptr ? nullptr
                                                  : static_cast<const char*>(grad.source) +
                                                        begin * bytes(grad.source_dtype);
      blocks_.push_back({static_cast<char*>(grad.data) + begin * bytes(grad.dtype),
                         std::min(kNormBlock, grad.n - begin), grad.dtype, source,
                         grad.source_dtype});
    }
    total += grad.n;
  }
  // As a step's plan: a thread only for every min_elements_per_thread() elements, none in a
  // forked child (register_fork_handler), and never more threads than blocks.
  const std::int64_t by_size = std::max<std::int64_t>(1, total / min_elements_per_thread());
  std::int64_t use = std::min<std::int64_t>(
      {threads, thread_limit(), by_size, static_cast<std::int64_t>(blocks_.size())});
  if (in_forked_child() || use < 1) use = 1;
  partials_.resize(blocks_.size());
  finite_.resize(blocks_.size());
  return {blocks_.data(),        static_cast<std::int64_t>(blocks_.size()),
          static_cast<int>(use), partials_.data(),
          finite_.data(),        operand};
}

GradNorm GradPass::norm(const std::vector<GradArray>& grads, NormKind kind, int threads) {
  const GradCall call = plan(grads, threads, 0);
  active_kernels().grad_norm[kind](call);
  // In block order, one after another: the same sum whichever threads computed the partials.
  double total = 0;
  bool finite = true;
  for (std::int64_t b = 0; b < call.count; ++b) {
    const double partial = partials_[static_cast<std::size_t>(b)];
    if (kind == kNormInf) {
      total = (partial > total || std::isnan(partial)) ? partial : total;
    } else {
      total = total + partial;
    }
    finite = finite && finite_[static_cast<std::size_t>(b)] != 0;
  }
  if (std::isnan(total)) total = std::nan("");  // whichever NaN the sum met: one quiet NaN
  return {kind == kNormTwo ? std::sqrt(total) : total, finite};
}

void GradPass::partials(const std::vector<GradArray>& grads, NormKind kind, int threads,
                        std::vector<double>& partials, std::vector<std::uint8_t>& finite) {
  const GradCall call = plan(grads, threads, 0);
  active_kernels().grad_norm[kind](call);
  partials.assign(partials_.begin(), partials_.begin() + call.count);
  finite.assign(finite_.begin(), finite_.begin() + call.count);
}

void GradPass::scale(const std::vector<GradArray>& grads, double factor, int threads) {
  active_kernels().scale_grads(plan(grads, threads, factor));
}

void GradPass::clamp(const std::vector<GradArray>& grads, double bound, int threads) {
  active_kernels().clamp_grads(plan(grads, threads, bound));
}

void GradPass::accumulate(const std::vector<GradArray>& pairs, double scale, int threads) {
  active_kernels().accumulate(plan(pairs, threads, scale));
}

void GradPass::ema_update(const std::vector<GradArray>& pairs, double weight, int threads) {
  active_kernels().ema_update(plan(pairs, threads, weight));
}

double clip_coefficient(double max_norm, double norm) {
  const double coefficient = max_norm / (norm + 1e-6);
  return coefficient > 1.0 ? 1.0 : coefficient;
}

}  // namespace optkern
