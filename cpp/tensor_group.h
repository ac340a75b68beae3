// TensorGroup: the parameters of one optimizer group that share a dtype, with their state arrays,
// checked once when Python binds them and re-checked cheaply on every step.
//
// Validation lives here, in C++, because a Python loop over 2,000 small tensors costs milliseconds
// per step, more than the update itself. Every check of a step runs before any kernel writes.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "grad_stats.h"
#include "optkern/kernel_table.h"
#include "work_plan_builder.h"

namespace optkern {

namespace py = pybind11;

class MemoryIndex;

// [begin, end) of one bound array that occupies memory, and its label.
struct MemoryRange {
  std::uintptr_t begin, end;
  const std::string* label;
};

class TensorGroup {
 public:
  // roles: the array names of the algorithm (Params::kArrays). params[i] is a parameter; states[i]
  // its state arrays for roles 2.. (None where the current options need none), each of dtype
  // `state_dtype` (None: the parameter's, float32 for a 16-bit one); masters[i] None, or (master
  // weights) the float32 copy of a 16-bit parameter that the step updates in its place;
  // grad_index[i] the position of its gradient in the list that step() receives. An empty `masters`
  // means no master weights. `stochastic`: rounding="stochastic" with this `seed` (in [0, 2^64)):
  // every store into a 16-bit array (the parameter without master weights, bfloat16 states)
  // rounds stochastically; the others are unaffected (Python checks the option's rules).
  TensorGroup(std::vector<std::string> roles, const py::list& params, const py::list& states,
              std::vector<std::string> param_labels, std::vector<std::string> grad_labels,
              std::vector<std::int64_t> grad_index, const py::object& state_dtype,
              const py::list& masters, bool stochastic = false, std::uint64_t seed = 0);

  std::size_t size() const { return sizes_.size(); }
  DType dtype() const { return dtype_; }
  // The kernel table column of this group's steps: Uniform where every array is stored in the
  // compute type (float32 or float64), else Converted (16-bit parameters or states, or master
  // weights), with float32 arithmetic.
  StorageSignature storage_signature() const {
    if (dtype_ == kFloat64) return kAllFloat64;
    return dtype_ == kFloat32 && state_dtype_ == kFloat32 && !has_masters_ ? kAllFloat32
                                                                           : kConverted;
  }
  std::size_t role_count() const { return roles_.size(); }
  bool has_role(int role) const { return has_role_[static_cast<std::size_t>(role)]; }
  const std::string& role_name(int role) const { return roles_[static_cast<std::size_t>(role)]; }
  const std::vector<std::int64_t>& sizes() const { return sizes_; }
  const std::vector<std::int64_t>& grad_index() const { return grad_index_; }
  py::list params() const;
  py::list states() const;
  py::list masters() const;  // one None per tensor without master weights

  // The gradient of tensor t, checked against its parameter (type, dtype, shape, layout, and that
  // it shares no memory with any array of `bound`: every parameter and state of the step).
  // Throws TypeError/ValueError. Runs once per tensor and step, so the common case reads NumPy's
  // structs directly.
  py::object checked_grad(std::size_t t, const py::handle& grad, const MemoryIndex& bound) const;
  // Throws ValueError if a bound parameter or state no longer is what was bound: its dtype
  // reassigned (a.dtype = np.int32), resized or reallocated (ndarray.resize), or made read-only.
  // The kernel relies on the bound dtype and sizes.
  void check_bound_arrays_unchanged() const;
  // Every bound array that occupies memory, sorted by begin and disjoint (checked when bound).
  const std::vector<MemoryRange>& bound_ranges() const { return ranges_; }
  // The plan of a step on `threads` threads with these gradients (flat order, as checked_grads
  // returns them). Built on the first step and kept while the thread count and the grain stay
  // the same: parameters and states cannot move (check_bound_arrays_unchanged), so only the
  // gradient pointers change between steps. `step`: the param group's step number (1-based),
  // from which a stochastic group's rounding keys are made (optkern/rounding_hash.h); unused
  // otherwise. The caller holds step_lock().
  const StepPlan& plan(int threads, const std::vector<py::object>& grads, std::uint64_t step);
  // True if some store of this group's steps rounds stochastically (then plan needs the step).
  bool rounds_stochastically() const { return !stochastic_roles_.empty(); }
  // Held from the checks to the end of the kernel: a second thread stepping the same groups at
  // the same time would rewrite the plan under the running kernel. (optkern.Optimizer refuses a
  // second thread earlier, for its whole step; this guards direct _core callers such as the
  // benchmarks' _same_traffic_step.)
  std::unique_lock<std::mutex> step_lock();
  // Threads the last step ran on (the cached plan's parts; 0 before the first step).
  int planned_threads() const { return plan_ ? plan_->parts() : 0; }
  // The algorithm's GrainScale (params.h), set when a step of that algorithm is prepared on this
  // group; the plan's grain is min_elements_per_thread() times it. The benchmarks' same-traffic
  // ceiling then runs on the same plan as the step.
  void set_grain_scale(std::int64_t scale) { grain_scale_ = scale; }

 private:
  std::vector<std::string> roles_;
  std::vector<bool> has_role_;
  DType dtype_ = kFloat32;        // of every parameter
  DType state_dtype_ = kFloat32;  // of every state array
  bool has_masters_ = false;
  bool stochastic_ = false;
  std::uint64_t seed_ = 0;
  std::vector<int> stochastic_roles_;  // the roles stored stochastically (16-bit ones)
  std::vector<py::object> masters_;    // per tensor: the float32 master copy, or None
  std::vector<py::array> params_;
  std::vector<std::vector<py::object>> states_;  // per tensor, roles 2.. (None if unused)
  std::vector<std::int64_t> sizes_;
  struct BoundArray {
    py::array array;
    const void* data;
    py::ssize_t size;
    py::object descr;  // its dtype as bound (held, so the same object is the same dtype)
    DType dtype;
    std::string label;
  };
  std::vector<BoundArray> bound_;  // every parameter and state, as bound
  std::vector<std::string> param_labels_, grad_labels_;
  std::vector<std::int64_t> grad_index_;
  // The labels ranges_ points at: a deque, whose elements stay where they are as it grows.
  std::deque<std::string> range_labels_;
  std::vector<MemoryRange> ranges_;  // see bound_ranges()
  // The first parameter's dtype as bound, held: that array's dtype may be reassigned later.
  py::object descr_;

  // kMaxArrays pointers per tensor; unused roles point at the parameter (never touched).
  std::vector<void*> pointer_table() const;
  // A converted step's TensorStorage per tensor (the gradients' entries set per step), or empty.
  std::vector<TensorStorage> storage_table() const;
  // Bytes of one element of the array in the parameter role: the cuts of a plan fall on its cache
  // lines (the master copy's, with master weights).
  std::int64_t param_role_bytes() const;
  void bind_range(const py::array& array, const std::string& label, DType dtype);
  std::mutex step_mutex_;
  std::unique_ptr<StepPlan> plan_;
  int plan_threads_ = 0;
  std::int64_t plan_grain_ = 0;
  std::int64_t grain_scale_ = 1;
};

// The memory of every array bound in a set of tensor groups, sorted by address. Building it is
// the check that no two of them overlap (ValueError naming both; O(n log n) in the number of
// arrays); `overlapping` then finds the array a gradient overlaps in O(log n). It refers to the
// groups' ranges and labels, so the groups must outlive it.
class MemoryIndex {
 public:
  template <class Group>  // TensorGroup or const TensorGroup
  explicit MemoryIndex(const std::vector<Group*>& groups) {
    if (groups.size() == 1) {  // the usual step: one group, its ranges sorted and checked already
      ranges_ = &groups[0]->bound_ranges();
      return;
    }
    for (const TensorGroup* group : groups) {
      merged_.insert(merged_.end(), group->bound_ranges().begin(), group->bound_ranges().end());
    }
    sort_and_check(merged_);
  }
  MemoryIndex(const MemoryIndex&) = delete;  // ranges_ may point at merged_
  MemoryIndex& operator=(const MemoryIndex&) = delete;

  // Label of the array overlapping [begin, end), or nullptr.
  const std::string* overlapping(std::uintptr_t begin, std::uintptr_t end) const;
  // Sorts `ranges` by begin and throws ValueError naming two that overlap, if any do.
  static void sort_and_check(std::vector<MemoryRange>& ranges);

 private:
  std::vector<MemoryRange> merged_;  // several groups' ranges
  const std::vector<MemoryRange>* ranges_ = &merged_;
};

// Locks `mutex` without waiting, or throws RuntimeError: one optimizer must not step from two
// threads at once (a second thread would rewrite the plan or the step's buffers under the first).
std::unique_lock<std::mutex> lock_or_refuse_second_thread(std::mutex& mutex);

// Throws ValueError if two bound arrays of the groups share memory (MemoryIndex's check).
void check_disjoint(const std::vector<const TensorGroup*>& groups);

// Checks the gradients of a whole step before anything is written: every bound array still as
// bound, and one valid array per parameter that overlaps no array of `bound` (the groups'
// MemoryIndex). Fills `out` with them in flat order (reusing its capacity: a step of a small
// model must not allocate).
void checked_grads(const std::vector<TensorGroup*>& groups, const MemoryIndex& bound,
                   const py::handle& grads, std::vector<py::object>& out);

// The gradients of a standalone gradient function (optkern.get_total_norm, clip_grad_norm_,
// clip_grad_value_), checked before anything is written: a list or tuple of C-contiguous, aligned
// numpy.ndarrays of float32, float64, float16 or ml_dtypes.bfloat16; with `in_place` also writeable
// and sharing no memory with each other. Errors name `name`[i] and call it `what` ("gradient").
// Keeps a reference to each array in `keep` (the GIL is released while the kernels run).
std::vector<GradArray> checked_grad_arrays(const py::handle& arrays, const std::string& name,
                                           const char* what, bool in_place,
                                           std::vector<py::object>& keep);

// The arrays of a two-array function (optkern.accumulate: sums and values; optkern.EMA: averages
// and parameters), checked before anything is written: `targets` as checked_grad_arrays with
// in_place, `sources` read only, the same count, each source the shape of its target and float64
// exactly where the target is, and no source sharing memory with any target. Errors name
// `target_name`[i] or `source_name`[i].
std::vector<GradArray> checked_array_pairs(const py::handle& targets, const py::handle& sources,
                                           const std::string& target_name, const char* target_what,
                                           const std::string& source_name, const char* source_what,
                                           std::vector<py::object>& keep);

}  // namespace optkern
