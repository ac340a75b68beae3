// PreparedStep's algorithm-independent part: what it was prepared from, and the checks of a step.
#include "prepared_step.h"

#include <algorithm>
#include <string>
#include <utility>

#include "numpy_access.h"
#include "work_plan_builder.h"

namespace optkern {

int check_step(const std::vector<TensorGroup*>& groups, const py::handle& grads, int num_threads,
               CheckedStep& step, const std::vector<std::uint64_t>& steps) {
  if (num_threads < 1) throw py::value_error("num_threads must be >= 1");
  // The one place a step's thread count is decided: a forked child must not open an OpenMP
  // region (register_fork_handler), and one thread gives the same bits.
  const int threads = in_forked_child() ? 1 : std::min(num_threads, thread_limit());
  for (TensorGroup* group : groups) step.locks.push_back(group->step_lock());
  if (!step.bound_memory) step.bound_memory.emplace(groups);
  checked_grads(groups, *step.bound_memory, grads, step.grads);  // throws before any write
  for (std::size_t g = 0; g < groups.size(); ++g) {
    step.calls.push_back(groups[g]->plan(threads, step.grads, steps.empty() ? 0 : steps[g]).call());
  }
  return threads;
}

void PreparedStep::set_segment_repeats(int repeats) {
  if (repeats < 1) {
    throw py::value_error("segment repeats must be >= 1, got " + std::to_string(repeats));
  }
  segment_repeats_ = repeats;
}

void PreparedStep::repeat_segments() {
  repeated_segments_.resize(checked_.calls.size());
  repeated_offsets_.resize(checked_.calls.size());
  for (std::size_t g = 0; g < checked_.calls.size(); ++g) {
    StepCall& call = checked_.calls[g];
    std::vector<Segment>& segments = repeated_segments_[g];
    std::vector<std::int64_t>& offsets = repeated_offsets_[g];
    segments.clear();
    offsets.assign(1, 0);
    for (int part = 0; part < call.parts; ++part) {
      const Segment* first = call.segments + call.part_offsets[part];
      const Segment* last = call.segments + call.part_offsets[part + 1];
      for (int r = 0; r < segment_repeats_; ++r) segments.insert(segments.end(), first, last);
      offsets.push_back(static_cast<std::int64_t>(segments.size()));
    }
    call.segments = segments.data();
    call.part_offsets = offsets.data();
  }
}

void PreparedStep::bind_ema_averages(const GradOptions& options) {
  PyObject* averages = options.ema_averages;
  if (!PyList_Check(averages) ||
      static_cast<std::size_t>(PyList_GET_SIZE(averages)) != checked_.grads.size()) {
    throw py::value_error("EMA: one average is needed per parameter of the step (got " +
                          std::to_string(PyList_Check(averages) ? PyList_GET_SIZE(averages) : -1) +
                          " for " + std::to_string(checked_.grads.size()) + ")");
  }
  ema_arrays_.clear();
  ema_pointers_.resize(groups_.size());
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    const TensorGroup& group = *groups_[g];
    // The average has the step's arithmetic type: float64 for float64 groups, else float32.
    const bool float64 = group.dtype() == kFloat64;
    ema_pointers_[g].resize(group.size());
    for (std::size_t t = 0; t < group.size(); ++t) {
      const auto index = group.grad_index()[t];
      const std::string label = "EMA average " + std::to_string(index);
      PyObject* item = PyList_GET_ITEM(averages, static_cast<Py_ssize_t>(index));
      if (!numpy_access::is_ndarray(item)) throw py::type_error(label + " is not a numpy array");
      auto array = py::reinterpret_borrow<py::array>(item);
      // The descriptor pointer first (the usual case), then NumPy's equivalence of dtypes.
      static PyObject* const float32 = py::dtype::of<float>().release().ptr();  // never freed
      static PyObject* const float64_dtype = py::dtype::of<double>().release().ptr();
      PyObject* const wanted = float64 ? float64_dtype : float32;
      const bool right_dtype = numpy_access::descr(item) == wanted ||
                               array.dtype().is(py::reinterpret_borrow<py::dtype>(wanted));
      if (!right_dtype || array.size() != group.sizes()[t] ||
          (numpy_access::flags(item) & numpy_access::kCContiguous) == 0 || !array.writeable()) {
        throw py::value_error(label + " must be a writeable, C-contiguous " +
                              (float64 ? "float64" : "float32") + " array of " +
                              std::to_string(group.sizes()[t]) + " elements");
      }
      if ((numpy_access::flags(item) & numpy_access::kAligned) == 0) {
        throw py::value_error(label + " is not aligned to its element size");
      }
      const auto begin = reinterpret_cast<std::uintptr_t>(array.data());
      const auto end = begin + static_cast<std::uintptr_t>(array.nbytes());
      const std::string* bound = checked_.bound_memory->overlapping(begin, end);
      if (bound != nullptr) throw py::value_error(label + " shares memory with " + *bound);
      // Nor with any gradient of the step (written while another tensor's update reads it).
      for (std::size_t k = 0; k < checked_.grads.size(); ++k) {
        const auto grad = py::reinterpret_borrow<py::array>(checked_.grads[k]);
        const auto grad_begin = reinterpret_cast<std::uintptr_t>(grad.data());
        if (begin < grad_begin + static_cast<std::uintptr_t>(grad.nbytes()) && grad_begin < end &&
            array.nbytes() > 0 && grad.nbytes() > 0) {
          throw py::value_error(label + " shares memory with gradient " + std::to_string(k));
        }
      }
      ema_pointers_[g][t] = array.mutable_data();
      ema_arrays_.push_back(array);
    }
    checked_.calls[g].ema_averages = ema_pointers_[g].data();
    checked_.calls[g].ema_weight = options.ema_weight;
  }
}

GradReport PreparedStep::apply_grad_options(const GradOptions& options, int threads) {
  GradReport report;
  if (options.measures()) {
    // Every gradient of the step in the order step() received them, whatever group it is in.
    grad_arrays_.resize(checked_.grads.size());
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      const TensorGroup& group = *groups_[g];
      const StepCall& call = checked_.calls[g];
      for (std::size_t t = 0; t < group.size(); ++t) {
        DType dtype = group.dtype();
        if (call.storage != nullptr) {  // a 16-bit parameter's gradient: its own dtype or float32
          const StoredAs as = call.storage[t].role[kGradRole];
          dtype = as == kStoredFloat16 ? kFloat16 : as == kStoredBFloat16 ? kBFloat16 : kFloat32;
        }
        grad_arrays_[static_cast<std::size_t>(group.grad_index()[t])] = {
            call.arrays[t * kMaxArrays + kGradRole], group.sizes()[t], dtype};
      }
    }
    const GradNorm measured = grad_pass_.norm(grad_arrays_, kNormTwo, threads);
    report.measured = true;
    report.norm = measured.norm / options.grad_scale;
    if (options.skip_if_nonfinite && !measured.finite) {
      report.skipped = true;
      return report;
    }
  }
  const double coefficient = options.clip ? clip_coefficient(options.max_norm, report.norm) : 1.0;
  const double multiplier = coefficient / options.grad_scale;
  for (StepCall& call : checked_.calls) call.grad_multiplier = multiplier;
  return report;
}

PreparedStep::PreparedStep(const py::list& tensor_groups, const py::list& param_groups,
                           const py::list& bindings, const py::list& fixed_coefficients,
                           std::shared_ptr<ThreadChoice> thread_choice)
    : fixed_coefficients_(fixed_coefficients), thread_choice_(std::move(thread_choice)) {
  const std::size_t count = param_groups.size();
  if (tensor_groups.size() != count || bindings.size() != count ||
      fixed_coefficients.size() != count) {
    throw py::value_error("PreparedStep: one entry per param group is needed in every list");
  }
  for (std::size_t i = 0; i < count; ++i) {
    for (const py::handle group : tensor_groups[i].cast<py::list>()) {
      groups_.push_back(group.cast<TensorGroup*>());
      group_objects_.push_back(py::reinterpret_borrow<py::object>(group));
    }
    group_ends_.push_back(groups_.size());
    const py::handle param_group = param_groups[i];
    if (!PyDict_Check(param_group.ptr())) throw py::type_error("PreparedStep: groups are dicts");
    param_groups_.push_back(py::reinterpret_borrow<py::object>(param_group));
    bindings_.push_back(bindings[i]);
    std::vector<py::object> values;
    PyObject* key = nullptr;
    PyObject* value = nullptr;
    Py_ssize_t position = 0;
    while (PyDict_Next(param_group.ptr(), &position, &key, &value)) {
      values.push_back(py::reinterpret_borrow<py::object>(value));
    }
    values_.push_back(std::move(values));
  }
  checked_.bound_memory.emplace(groups_);  // once: every step looks its gradients up in it
  for (const TensorGroup* group : groups_) {
    std::int64_t total = 0;
    for (const std::int64_t size : group->sizes()) total += size;
    group_totals_.push_back(total);
  }
}

bool PreparedStep::splits(int threads) const {
  const std::int64_t grain = scaled_min_elements_per_thread(grain_scale_);
  return std::any_of(group_totals_.begin(), group_totals_.end(),
                     [&](std::int64_t total) { return planned_parts(total, threads, grain) > 1; });
}

ThreadDecision PreparedStep::choose_threads(int num_threads, const GradOptions* options) const {
  ThreadDecision decision{num_threads == 0 ? max_threads() : num_threads, false, true, 0};
  if (num_threads != 0 || !thread_choice_ || decision.threads < 2 || in_forked_child() ||
      !splits(decision.threads)) {
    return decision;  // explicit, or one thread anyway: nothing to choose
  }
  if (options != nullptr) {
    decision.workload = (options->measures() ? 1 : 0) + (options->has_ema() ? 2 : 0);
  }
  decision.timed = true;
  decision.parallel = thread_choice_->next_is_parallel(decision.workload);
  if (!decision.parallel) decision.threads = 1;
  return decision;
}

void PreparedStep::record_time(const ThreadDecision& decision,
                               std::chrono::steady_clock::time_point start) const {
  if (!decision.timed) return;
  const auto elapsed = std::chrono::steady_clock::now() - start;
  thread_choice_->record(decision.workload, decision.parallel,
                         std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count());
}

namespace {

// The items of a list or tuple, or {nullptr, -1} for anything else.
std::pair<PyObject**, Py_ssize_t> sequence_items(PyObject* sequence) {
  if (sequence == nullptr || (!PyList_Check(sequence) && !PyTuple_Check(sequence)))
    return {nullptr, -1};
  return {PySequence_Fast_ITEMS(sequence), PySequence_Fast_GET_SIZE(sequence)};
}

}  // namespace

const std::vector<std::uint64_t>& PreparedStep::group_steps(const py::handle& commits) {
  static PyObject* const step_key = PyUnicode_InternFromString("step");  // never released
  steps_.assign(groups_.size(), 0);
  for (std::size_t i = 0; i < param_group_count(); ++i) {
    bool stochastic = false;
    for (std::size_t g = group_begin(i); g < group_ends_[i]; ++g) {
      stochastic = stochastic || groups_[g]->rounds_stochastically();
    }
    if (!stochastic) continue;  // only stochastic rounding reads the step number
    PyObject* commit =
        PyList_Check(commits.ptr()) &&
                static_cast<std::size_t>(PyList_GET_SIZE(commits.ptr())) >= param_group_count()
            ? PyList_GET_ITEM(commits.ptr(), static_cast<Py_ssize_t>(i))
            : nullptr;
    PyObject* step =
        commit != nullptr && PyDict_Check(commit) ? PyDict_GetItem(commit, step_key) : nullptr;
    if (step == nullptr || !PyLong_Check(step)) {
      throw py::value_error("PreparedStep.run: param group " + std::to_string(i) +
                            " rounds stochastically and needs its step number as commits[" +
                            std::to_string(i) + "]['step']");
    }
    const unsigned long long number = PyLong_AsUnsignedLongLong(step);
    if (number == static_cast<unsigned long long>(-1) && PyErr_Occurred()) {
      throw py::error_already_set();
    }
    for (std::size_t g = group_begin(i); g < group_ends_[i]; ++g) steps_[g] = number;
  }
  return steps_;
}

bool PreparedStep::is_current(const py::handle& param_groups, const py::handle& records) const {
  const auto [groups, count] = sequence_items(param_groups.ptr());
  const auto [record_items, record_count] = sequence_items(records.ptr());
  const auto expected = static_cast<Py_ssize_t>(param_groups_.size());
  if (count != expected || record_count != expected) return false;
  static PyObject* const params_key = PyUnicode_InternFromString("params");  // never released
  static PyObject* const binding_key = PyUnicode_InternFromString("binding");
  for (Py_ssize_t i = 0; i < count; ++i) {
    const auto index = static_cast<std::size_t>(i);
    PyObject* group = groups[i];
    const std::vector<py::object>& values = values_[index];
    if (group != param_groups_[index].ptr() ||
        PyDict_Size(group) != static_cast<Py_ssize_t>(values.size())) {
      return false;
    }
    // A missing attribute is an error of the caller's (not a change), so it propagates.
    const auto binding =
        py::reinterpret_steal<py::object>(PyObject_GetAttr(record_items[i], binding_key));
    if (!binding) throw py::error_already_set();
    if (binding.ptr() != bindings_[index].ptr()) return false;
    PyObject* key = nullptr;
    PyObject* value = nullptr;
    Py_ssize_t position = 0;
    for (std::size_t v = 0; PyDict_Next(group, &position, &key, &value); ++v) {
      if (value != values[v].ptr()) return false;
    }
    // The params list itself may have been edited in place.
    const auto [params, size] = sequence_items(PyDict_GetItem(group, params_key));
    const auto bound_params =
        py::reinterpret_steal<py::object>(PyObject_GetAttr(record_items[i], params_key));
    if (!bound_params) throw py::error_already_set();
    const auto [bound, bound_size] = sequence_items(bound_params.ptr());
    if (params == nullptr || size != bound_size || !std::equal(params, params + size, bound)) {
      return false;
    }
  }
  return true;
}

py::list PreparedStep::tensor_groups() const {
  py::list out;
  for (const py::object& group : group_objects_) out.append(group);
  return out;
}

}  // namespace optkern
