// Splits one step's tensors into per-thread parts. Compiled once (baseline flags): this is
// bookkeeping, and keeping it out of the per-ISA units keeps std:: templates out of them.
#include <algorithm>
#include <atomic>
#include <limits>
#include <stdexcept>
#include <thread>

#include "work_plan_builder.h"

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define OPTKERN_HAVE_ATFORK 1
#endif

#if OPTKERN_HAVE_OPENMP
#include <dlfcn.h>
#include <omp.h>
#endif

namespace optkern {
namespace {
std::atomic<std::int64_t> grain{kDefaultMinElementsPerThread};
// Set in the child only, by the atfork handler, while that child is still single-threaded.
std::atomic<bool> forked_child{false};

void mark_forked_child() { forked_child.store(true, std::memory_order_relaxed); }
}  // namespace

void register_fork_handler() {
#ifdef OPTKERN_HAVE_ATFORK
  static const int failed = pthread_atfork(nullptr, nullptr, &mark_forked_child);
  if (failed != 0) throw std::runtime_error("optkern: pthread_atfork failed");
#endif
}

bool in_forked_child() { return forked_child.load(std::memory_order_relaxed); }

std::int64_t min_elements_per_thread() { return grain.load(); }

void set_min_elements_per_thread(std::int64_t elements) {
  if (elements < 1) throw std::invalid_argument("min_elements_per_thread must be >= 1");
  grain.store(elements);
}

std::int64_t scaled_min_elements_per_thread(std::int64_t scale) {
  const std::int64_t base = min_elements_per_thread();
  if (scale <= 1) return base;
  return base > std::numeric_limits<std::int64_t>::max() / scale
             ? std::numeric_limits<std::int64_t>::max()
             : base * scale;
}

int planned_parts(std::int64_t total, int requested_threads, std::int64_t min_elements_per_thread) {
  const std::int64_t by_size =
      std::max<std::int64_t>(1, total / std::max<std::int64_t>(1, min_elements_per_thread));
  return static_cast<int>(std::min<std::int64_t>(std::max(1, requested_threads), by_size));
}

int thread_limit() {
  static const int limit = std::max(256, static_cast<int>(std::thread::hardware_concurrency()));
  return limit;
}

namespace {
std::atomic<int> default_cap{0};
}  // namespace

void set_default_thread_cap(int cap) {
  if (cap < 0) throw std::invalid_argument("default thread cap must be >= 0");
  default_cap.store(cap, std::memory_order_relaxed);
}

int default_thread_cap() { return default_cap.load(std::memory_order_relaxed); }

int max_threads() {
#if OPTKERN_HAVE_OPENMP
  const int threads = std::min(omp_get_max_threads(), thread_limit());
  const int cap = default_thread_cap();
  return cap > 0 ? std::min(threads, cap) : threads;
#else
  return 1;
#endif
}

std::string openmp_library() {
#if OPTKERN_HAVE_OPENMP
  // The shared object that defines the OpenMP entry points this module calls: the copy whose
  // settings (omp_set_num_threads, threadpoolctl's limits) our kernels obey. After auditwheel
  // repair it is the vendored, renamed copy inside the wheel.
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&omp_get_max_threads), &info) != 0 && info.dli_fname) {
    return info.dli_fname;
  }
#endif
  return "";
}

StepPlan::StepPlan(std::vector<void*> arrays, const std::vector<std::int64_t>& sizes,
                   std::int64_t element_bytes, int requested_threads,
                   std::int64_t min_elements_per_thread, std::vector<TensorStorage> storage)
    : arrays_(std::move(arrays)), storage_(std::move(storage)) {
  if (min_elements_per_thread < 1) {
    throw std::invalid_argument("min_elements_per_thread must be >= 1");
  }
  const std::size_t count = sizes.size();
  std::vector<std::int64_t> start(count + 1, 0);  // start[k]: global index of tensor k's first
  for (std::size_t k = 0; k < count; ++k) start[k + 1] = start[k] + sizes[k];
  const std::int64_t total = start[count];
  if (total == 0) {
    part_offsets_.assign(1, 0);
    return;
  }
  parts_ = planned_parts(total, requested_threads, min_elements_per_thread);

  // Moves a global index up to the next cache-line boundary of the parameter of the tensor it
  // falls in (or that tensor's end). Monotonic, so the cuts partition [0, total).
  auto align_cut = [&](std::int64_t x) -> std::int64_t {
    if (x <= 0) return 0;
    if (x >= total) return total;
    const auto k = static_cast<std::size_t>(std::upper_bound(start.begin(), start.end(), x) -
                                            start.begin() - 1);
    const std::int64_t local = x - start[k];
    const auto address = reinterpret_cast<std::uintptr_t>(arrays_[k * kMaxArrays + kParamRole]) +
                         static_cast<std::uintptr_t>(local * element_bytes);
    const auto pad_bytes = static_cast<std::int64_t>(
        (kCacheLineBytes - static_cast<std::int64_t>(address % kCacheLineBytes)) % kCacheLineBytes);
    return start[k] + std::min(sizes[k], local + pad_bytes / element_bytes);
  };

  std::size_t k = 0;
  for (int p = 0; p < parts_; ++p) {
    part_offsets_.push_back(static_cast<std::int64_t>(segments_.size()));
    const std::int64_t part_end = align_cut(total * (p + 1) / parts_);
    std::int64_t x = align_cut(total * p / parts_);
    while (x < part_end) {
      while (start[k + 1] <= x) ++k;  // skips empty tensors
      const std::int64_t end = std::min(start[k + 1], part_end);
      segments_.push_back({static_cast<std::int64_t>(k), x - start[k], end - start[k]});
      x = end;
    }
  }
  part_offsets_.push_back(static_cast<std::int64_t>(segments_.size()));
}

StepCall StepPlan::call() const {
  return {arrays_.data(),
          segments_.data(),
          part_offsets_.data(),
          parts_,
          storage_.empty() ? nullptr : storage_.data(),
          1.0,  // no gradient multiplier
          nullptr,
          0.0};  // no EMA
}

}  // namespace optkern
