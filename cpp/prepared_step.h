// PreparedStep: one optimizer's step with everything that stays the same from step to step made
// once (Optimizer._prepare in python/optkern/optimizer.py): its tensor groups and the fixed part of
// every group's Params. A step then passes only the gradients and the few coefficients that change
// with the step number, which is what keeps a step of a small model within a few microseconds.
#pragma once
#include <pybind11/pybind11.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "coefficients.h"
#include "dispatch.h"
#include "grad_stats.h"
#include "tensor_group.h"
#include "thread_choice.h"

namespace optkern {

namespace py = pybind11;

// What the kernels of one step run on, checked: every group locked against a concurrent step, a
// reference to every gradient (the GIL is released while the kernels run), one call per group.
// A PreparedStep keeps one and clears it after each step, so that its vectors keep their
// capacity: a small model's step allocates nothing here.
struct CheckedStep {
  // The memory of the groups' bound arrays, for the gradients' aliasing check. A PreparedStep
  // builds it once, as bound arrays cannot move (check_bound_arrays_unchanged); when it is
  // empty, check_step builds it for its call. clear() keeps it.
  std::optional<MemoryIndex> bound_memory;
  std::vector<std::unique_lock<std::mutex>> locks;
  std::vector<py::object> grads;
  std::vector<StepCall> calls;
  // Unlocks the groups and drops the gradients (needs the GIL).
  void clear() {
    calls.clear();
    grads.clear();
    locks.clear();
  }
};

// Checks the gradients against every group (throws before anything is written) and plans the
// kernel calls on `num_threads` threads, into `step` (cleared; its bound_memory that of `groups`
// or empty). `steps`: each group's step number (TensorGroup::plan), or empty for none. Returns
// the thread count the calls were planned for.
int check_step(const std::vector<TensorGroup*>& groups, const py::handle& grads, int num_threads,
               CheckedStep& step, const std::vector<std::uint64_t>& steps = {});

// What a step does with its gradients besides the update (Optimizer.step's keywords).
struct GradOptions {
  bool clip;               // max_grad_norm given: clip by the global norm
  double max_norm;         // read if clip
  double grad_scale;       // the gradients are multiplied by 1 / grad_scale; 1 for none
  bool skip_if_nonfinite;  // skip the whole step if any gradient element is inf or NaN
  // An EMA fused into the step: its averages, one per parameter in step() order (a list of
  // arrays), or None; and the update's weight, 1 - decay.
  PyObject* ema_averages;
  double ema_weight;
  bool measures() const { return clip || skip_if_nonfinite; }
  bool has_ema() const { return ema_averages != nullptr && ema_averages != Py_None; }
};

// What a step with GradOptions reports.
struct GradReport {
  bool measured = false;  // the statistics pass ran (clip or skip_if_nonfinite)
  double norm = 0;        // then: the norm of the gradients divided by grad_scale, before clipping
  bool skipped = false;   // a non-finite gradient skipped the step: nothing was written
};

// How the thread count of one step was chosen (PreparedStep::choose_threads).
struct ThreadDecision {
  int threads;    // what the step is planned on
  bool timed;     // the ThreadChoice decided: the kernels are timed and the time recorded
  bool parallel;  // if timed: on the default thread count (else on one thread)
  int workload;   // if timed: ThreadChoice's workload (plain, statistics pass, EMA)
};

class PreparedStep {
 public:
  // `tensor_groups[i]`: the tensor groups of param group i (one per dtype). `param_groups` and
  // `bindings` are the Python objects the step was prepared from: while they, and every value in
  // each group dict, are the very same objects, the step still holds (is_current).
  // `thread_choice`: the optimizer's, which outlives this PreparedStep (an optimizer prepares
  // anew whenever a hyperparameter changes: a schedule's every step); nullptr: every default
  // step runs on OpenMP's maximum.
  PreparedStep(const py::list& tensor_groups, const py::list& param_groups,
               const py::list& bindings, const py::list& fixed_coefficients,
               std::shared_ptr<ThreadChoice> thread_choice);
  virtual ~PreparedStep() = default;
  PreparedStep(const PreparedStep&) = delete;
  PreparedStep& operator=(const PreparedStep&) = delete;

  // True while `param_groups` is the same list of the same dicts holding the same objects (by
  // identity: a new float, even an equal one, is a change) and, for each group, `records[i]`
  // (the optimizer's record of param group i) has as its `binding` attribute the binding
  // prepared with and as its `params` attribute exactly the arrays of the group's "params".
  bool is_current(const py::handle& param_groups, const py::handle& records) const;
  // One step: `step_coefficients[i]` holds the Params fields of param group i that the fixed
  // coefficients leave out (an empty dict when none depend on the step). Checks everything, then
  // runs the kernels with the GIL released. `num_threads` 0 means the default: OpenMP's maximum,
  // read now (so that threadpoolctl's limits apply), or one thread where the ThreadChoice found
  // one thread faster (choose_threads); any other count is used as given.
  // `commits`: the list of the step's commit dicts, one per param group first (then any other
  // owner's, such as a fused EMA's update count), whose "step" is the
  // group's step number; read only for groups that round stochastically. `options` (or nullptr
  // for a plain step): the statistics pass over every gradient of the step, then the gradient
  // multiplier (clip coefficient / grad_scale) that every kernel applies, or the skip.
  virtual GradReport run(const py::handle& step_coefficients, const py::handle& grads,
                         int num_threads, const py::handle& commits,
                         const GradOptions* options = nullptr) = 0;

  py::list tensor_groups() const;
  const py::list& fixed_coefficients() const { return fixed_coefficients_; }
  // Benchmarks only (the arithmetic floor, optkern/benchmarks/floor.py): while `repeats` > 1,
  // every run goes over each part's segments `repeats` times in one kernel call: the same loop,
  // on data that stays in cache after the first pass. 1 (the default): a normal step.
  void set_segment_repeats(int repeats);
  int segment_repeats() const { return segment_repeats_; }

 protected:
  std::size_t param_group_count() const { return group_ends_.size(); }
  // Tensor groups [group_begin(i), group_ends_[i]) belong to param group i.
  std::size_t group_begin(std::size_t i) const { return i == 0 ? 0 : group_ends_[i - 1]; }

  // Held for a whole run: a second thread running the same PreparedStep gets a RuntimeError
  // (optkern.Optimizer refuses a second thread earlier, for its whole step).
  std::unique_lock<std::mutex> exclusive_run() { return lock_or_refuse_second_thread(run_mutex_); }
  // Each tensor group's step number, from `commits` (see run); 0 for groups that do not round
  // stochastically. Throws ValueError if a stochastic group's commit has no int "step". Fills a
  // member vector, so that a step allocates nothing here.
  const std::vector<std::uint64_t>& group_steps(const py::handle& commits);
  // The statistics pass and the multiplier of a step with `options`, on the checked calls
  // (checked_.calls set to the multiplier). Runs without the GIL.
  GradReport apply_grad_options(const GradOptions& options, int threads);
  // The thread count of a step (run's `num_threads`, with `options` or nullptr). A default step
  // that the grain splits across threads asks the ThreadChoice; an explicit count is honoured
  // exactly and never timed.
  ThreadDecision choose_threads(int num_threads, const GradOptions* options) const;
  // Records the time since `start` of a timed step's kernels (no-op for an untimed one).
  void record_time(const ThreadDecision& decision,
                   std::chrono::steady_clock::time_point start) const;
  // Checks the EMA averages of `options` against the step's tensors (with the GIL, before
  // anything is written) and points the checked calls at them.
  void bind_ema_averages(const GradOptions& options);
  // Points the checked calls at each part's segments repeated segment_repeats_ times (with the
  // GIL, before the kernels run; the plan's own segments are left as they are).
  void repeat_segments();

  std::vector<TensorGroup*> groups_;  // every tensor group, param group by param group
  std::vector<std::size_t> group_ends_;
  py::list fixed_coefficients_;
  CheckedStep checked_;                 // guarded by run_mutex_; empty between runs
  std::vector<std::uint64_t> steps_;    // group_steps' result, guarded by run_mutex_
  std::vector<GradArray> grad_arrays_;  // apply_grad_options' buffers, guarded by run_mutex_
  GradPass grad_pass_;
  std::vector<std::vector<void*>> ema_pointers_;         // per tensor group, bind_ema_averages'
  std::vector<py::object> ema_arrays_;                   // held while the kernels run
  std::int64_t grain_scale_ = 1;                         // the algorithm's GrainScale (params.h)
  int segment_repeats_ = 1;                              // set_segment_repeats
  std::vector<std::vector<Segment>> repeated_segments_;  // per tensor group, repeat_segments'
  std::vector<std::vector<std::int64_t>> repeated_offsets_;  // the parts' offsets into them

 private:
  // True if a step on `threads` threads would split some tensor group across threads.
  bool splits(int threads) const;

  std::shared_ptr<ThreadChoice> thread_choice_;
  std::vector<std::int64_t> group_totals_;  // elements per tensor group
  std::mutex run_mutex_;
  std::vector<py::object> group_objects_;  // keep groups_ alive
  std::vector<py::object> param_groups_, bindings_;
  std::vector<std::vector<py::object>> values_;  // each group dict's values, in order
};

// `Params`: the algorithm's float64 Params (<Name>Params<double>), as the kernels take it;
// `kernels`: its row of the kernel table, one kernel per storage signature.
template <class Params, StepKernel<Params> (KernelTable::*kernels)[kStorageSignatures]>
class AlgorithmStep final : public PreparedStep {
 public:
  AlgorithmStep(const py::list& tensor_groups, const py::list& param_groups,
                const py::list& bindings, const py::list& fixed_coefficients,
                std::shared_ptr<ThreadChoice> thread_choice)
      : PreparedStep(tensor_groups, param_groups, bindings, fixed_coefficients,
                     std::move(thread_choice)) {
    grain_scale_ = GrainScale<Params>::value;
    for (TensorGroup* group : groups_) group->set_grain_scale(grain_scale_);
    for (const py::handle values : fixed_coefficients) {
      Params hp{};  // all zero (the structs have no default initialisers: params.h)
      fixed_fields_.push_back(set_fields(hp, values));
      fixed_.push_back(hp);
    }
  }

  GradReport run(const py::handle& step_coefficients, const py::handle& grads, int num_threads,
                 const py::handle& commits, const GradOptions* options) override {
    if (!PyList_Check(step_coefficients.ptr()) ||
        static_cast<std::size_t>(PyList_GET_SIZE(step_coefficients.ptr())) != param_group_count()) {
      throw py::value_error(std::string(Params::kName) +
                            ": one dict of step coefficients is needed per param group");
    }
    const std::unique_lock<std::mutex> exclusive = exclusive_run();
    std::vector<Params>& hparams = hparams_;
    hparams.assign(fixed_.begin(), fixed_.end());  // no allocation after the first step
    for (std::size_t i = 0; i < hparams.size(); ++i) {
      const std::uint32_t fixed = fixed_fields_[i];
      const std::uint32_t set = set_fields(hparams[i], PyList_GET_ITEM(step_coefficients.ptr(), i));
      if ((set & fixed) != 0) {
        throw py::type_error(std::string(Params::kName) + " params: field '" +
                             first_field_name<Params>(set & fixed) +
                             "' is both a fixed and a step coefficient");
      }
      const std::uint32_t missing = all_fields_mask<Params>() & ~(set | fixed);
      if (missing != 0) {
        throw py::type_error(std::string(Params::kName) + " params: missing field '" +
                             first_field_name<Params>(missing) + "'");
      }
      for (std::size_t g = group_begin(i); g < group_ends_[i]; ++g) {
        check_states(hparams[i], i, *groups_[g]);
      }
    }
    struct ClearAtExit {  // with the GIL held: declared outside the released scope below
      CheckedStep& step;
      ~ClearAtExit() { step.clear(); }
    } clear_at_exit{checked_};
    const ThreadDecision decision = choose_threads(num_threads, options);
    const int threads =
        check_step(groups_, grads, decision.threads, checked_, group_steps(commits));
    if (options != nullptr && options->has_ema()) bind_ema_averages(*options);
    if (segment_repeats_ > 1) repeat_segments();
    const KernelTable& table = active_kernels();
    py::gil_scoped_release release;
    const auto start =
        decision.timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    GradReport report;
    if (options != nullptr) {
      report = apply_grad_options(*options, threads);
      if (report.skipped) return report;
    }
    for (std::size_t i = 0; i < hparams.size(); ++i) {
      for (std::size_t g = group_begin(i); g < group_ends_[i]; ++g) {
        (table.*kernels)[groups_[g]->storage_signature()](checked_.calls[g], hparams[i]);
      }
    }
    record_time(decision, start);  // a skipped step above is not: it did a part of the work
    return report;
  }

 private:
  static void check_states(const Params& hp, std::size_t param_group, const TensorGroup& group) {
    for (int role = 2; role < static_cast<int>(Params::kArrays.size()); ++role) {
      if (hp.needs_array(role) && !group.has_role(role)) {
        throw py::value_error(std::string(Params::kName) + ": the options of param group " +
                              std::to_string(param_group) + " need state '" +
                              Params::kArrays[static_cast<std::size_t>(role)] +
                              "', which is not bound");
      }
    }
  }

  std::vector<Params> fixed_;  // per param group: the fixed fields, the others still default
  std::vector<std::uint32_t> fixed_fields_;
  std::vector<Params> hparams_;  // a run's complete Params, guarded by run_mutex_
};

}  // namespace optkern
