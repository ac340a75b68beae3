// Builds the StepCall of one kernel call: the pointer table and the per-thread parts, cut across
// the whole tensor list on cache-line boundaries of the parameter arrays.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "optkern/work_plan.h"

namespace optkern {

// The grain: elements each thread must have before another thread is used (>= 1).
std::int64_t min_elements_per_thread();
void set_min_elements_per_thread(std::int64_t elements);
// min_elements_per_thread() times an algorithm's GrainScale (params.h), saturating instead of
// overflowing (a huge grain is how a caller forces every step onto one thread).
std::int64_t scaled_min_elements_per_thread(std::int64_t scale);
// The parts (threads) a step of `total` elements gets on `requested_threads` with this grain:
// StepPlan's rule, which PreparedStep also asks before it plans (is the step split at all?).
int planned_parts(std::int64_t total, int requested_threads, std::int64_t min_elements_per_thread);
// The most threads a step may use: the number of CPUs, and at least 256. Every thread of a step
// is an OS thread, and a mistyped count (2,000 under a memory limit) made the OpenMP runtime end
// the process. optkern.Optimizer refuses larger num_threads; OMP_NUM_THREADS is capped to it.
int thread_limit();
// OpenMP's maximum thread count (OMP_NUM_THREADS) capped by thread_limit() and by the default
// cap, or 1 in a build without OpenMP: the thread count of a step that asks for no other.
int max_threads();
// The default cap: the cgroup CPU quota's whole CPUs, which Python sets at import unless
// OMP_NUM_THREADS is set (optkern/_cpus.py); 0, the initial value, for none. >= 0.
void set_default_thread_cap(int cap);
int default_thread_cap();
// Installs (once; the module's import calls it) a pthread_atfork child handler that marks the
// process as a forked child. GNU libgomp's thread pool does not survive fork(): a child that
// opened an OpenMP region after its parent had one would wait forever for threads that no
// longer exist. So in a forked child every step runs on one thread (check_step), which gives the
// same bits, as results never depend on the thread count.
void register_fork_handler();
// True in a process made by fork() (at any depth) from one that imported optkern.
bool in_forked_child();
// Path of the OpenMP runtime library in use ("" without OpenMP or when unknown).
std::string openmp_library();

class StepPlan {
 public:
  // `arrays`: kMaxArrays data pointers per tensor, tensor-major. `sizes`: elements per tensor.
  // `min_elements_per_thread`: the grain of this step (min_elements_per_thread() times the
  // algorithm's GrainScale); fewer threads than requested run when the step is smaller.
  // `element_bytes`: the size of a parameter-role element, whose cache lines the cuts fall on.
  // `storage`: one entry per tensor for a converted step (StepCall::storage), else empty.
  StepPlan(std::vector<void*> arrays, const std::vector<std::int64_t>& sizes,
           std::int64_t element_bytes, int requested_threads, std::int64_t min_elements_per_thread,
           std::vector<TensorStorage> storage = {});
  StepCall call() const;
  void set_array(std::size_t tensor, int role, void* data) {
    arrays_[tensor * kMaxArrays + static_cast<std::size_t>(role)] = data;
  }
  // A converted step's gradients may be stored as the parameter or as float32, step by step.
  void set_stored_as(std::size_t tensor, int role, StoredAs as) {
    storage_[tensor].role[role] = as;
  }
  // A stochastically rounded role's keys (TensorStorage::rounding_key), set step by step.
  std::uint32_t* rounding_key(std::size_t tensor, int role) {
    return storage_[tensor].rounding_key[role];
  }
  int parts() const { return parts_; }

 private:
  std::vector<void*> arrays_;
  std::vector<TensorStorage> storage_;
  std::vector<Segment> segments_;
  std::vector<std::int64_t> part_offsets_;
  int parts_ = 0;
};

}  // namespace optkern
