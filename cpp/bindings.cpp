// The Python module optkern._core: wiring only. Each algorithm in OPTKERN_FOR_EACH_ALGORITHM gets
// one `<name>_prepare` entry that makes the PreparedStep (prepared_step.h) an optimizer steps
// through: it turns the optimizer class's coefficient dicts into the algorithm's params struct,
// checks the whole step, releases the GIL and runs the active ISA's kernel over every tensor group.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#include "dispatch.h"
#include "numpy_access.h"
#include "optkern/params.h"
#include "prepared_step.h"
#include "tensor_group.h"
#include "work_plan_builder.h"

namespace py = pybind11;
using namespace optkern;

namespace {

template <class Params>
std::vector<std::string> roles_of() {
  return {Params::kArrays.begin(), Params::kArrays.end()};
}

// `<name>_prepare`: the PreparedStep of one optimizer's groups for algorithm `Params`.
template <class Params, StepKernel<Params> (KernelTable::*kernels)[kStorageSignatures]>
std::unique_ptr<PreparedStep> prepare(const py::list& tensor_groups, const py::list& param_groups,
                                      const py::list& bindings, const py::list& fixed_coefficients,
                                      std::shared_ptr<ThreadChoice> thread_choice) {
  return std::make_unique<AlgorithmStep<Params, kernels>>(
      tensor_groups, param_groups, bindings, fixed_coefficients, std::move(thread_choice));
}

// Benchmarks only: the memory ceiling of a step over these groups. Moves exactly the bytes the
// algorithm moves (parameter, gradient and every bound state), on the same plan and threads, with
// no math (optkern/ceiling.h). It adds the gradient to the parameter and its states, so run it on
// arrays kept for it, never on a model's.
void same_traffic_step(const std::vector<TensorGroup*>& groups, const py::handle& grads,
                       int num_threads) {
  CheckedStep checked;
  check_step(groups, grads, num_threads, checked);
  const KernelTable& table = active_kernels();
  std::vector<CeilingKernel> loops;
  for (const TensorGroup* group : groups) {
    int states = 0;
    for (int role = 2; role < kMaxArrays; ++role) {
      states += role < static_cast<int>(group->role_count()) && group->has_role(role) ? 1 : 0;
    }
    const CeilingKernel loop = table.same_traffic[states][group->storage_signature()];
    if (loop == nullptr) {
      throw py::value_error("_same_traffic_step: no ceiling for this storage");
    }
    loops.push_back(loop);
  }
  py::gil_scoped_release release;
  for (std::size_t g = 0; g < groups.size(); ++g) loops[g](checked.calls[g]);
}

// Tests only: `conversion` (a name of optkern/convert.h's functions) from `source` into `out` with
// the kernels of `isa`, which stays unselected. The 16-bit side is an array of uint16 (the bits),
// the other float32; both C-contiguous, of one size, not overlapping.
void convert(const std::string& isa, const std::string& conversion, const py::handle& source,
             const py::handle& out) {
  static const char* const names[kConversions] = {"load_float16", "load_bfloat16", "store_float16",
                                                  "store_bfloat16"};
  const auto found = std::find(std::begin(names), std::end(names), conversion);
  if (found == std::end(names)) {
    throw py::value_error("_convert: unknown conversion '" + conversion +
                          "'; expected load_float16, load_bfloat16, store_float16 or "
                          "store_bfloat16");
  }
  const auto which = static_cast<Conversion>(found - std::begin(names));
  const bool load = which == kLoadFloat16 || which == kLoadBFloat16;
  const ConvertKernel kernel = kernel_table(isa).convert[which];  // ValueError for a bad ISA
  const auto checked = [](const char* what, const py::handle& array, const py::dtype& dtype,
                          const char* dtype_name) {
    if (!py::isinstance<py::array>(array)) {
      throw py::type_error(std::string("_convert: ") + what + " must be a numpy.ndarray");
    }
    auto result = py::reinterpret_borrow<py::array>(array);
    if (!result.dtype().equal(dtype)) {
      throw py::type_error(std::string("_convert: ") + what + " must have dtype " + dtype_name +
                           ", got " + py::str(result.dtype()).cast<std::string>());
    }
    if (!(result.flags() & py::array::c_style) || !(result.flags() & numpy_access::kAligned)) {
      throw py::value_error(std::string("_convert: ") + what + " must be C-contiguous and aligned");
    }
    return result;
  };
  const py::dtype bits = py::dtype::of<std::uint16_t>();
  const py::dtype float32 = py::dtype::of<float>();
  const py::array from =
      checked("source", source, load ? bits : float32, load ? "uint16" : "float32");
  py::array to = checked("out", out, load ? float32 : bits, load ? "float32" : "uint16");
  if (!to.writeable()) throw py::value_error("_convert: out must be writeable");
  if (from.size() != to.size()) {
    throw py::value_error("_convert: source has " + std::to_string(from.size()) +
                          " elements, out " + std::to_string(to.size()));
  }
  const auto from_begin = reinterpret_cast<std::uintptr_t>(from.data());
  const auto to_begin = reinterpret_cast<std::uintptr_t>(to.data());
  if (from.nbytes() > 0 && to.nbytes() > 0 &&
      from_begin < to_begin + static_cast<std::uintptr_t>(to.nbytes()) &&
      to_begin < from_begin + static_cast<std::uintptr_t>(from.nbytes())) {
    throw py::value_error("_convert: source and out overlap");
  }
  const void* from_data = from.data();
  void* to_data = to.mutable_data();
  const auto n = static_cast<std::int64_t>(from.size());
  py::gil_scoped_release release;
  kernel(from_data, to_data, n);
}

// The two calls of every step (PreparedStep.is_current and .run) are plain CPython METH_FASTCALL
// methods instead of going through pybind11's dispatcher, which costs about 0.2 µs a call
// (argument vectors, the overload loop): together a sixth of a 1,000-element Adam step. They take
// positional arguments only.

// Runs `body`, turning a C++ exception into the Python exception pybind11 would raise for it.
template <class Body>
PyObject* with_python_errors(Body&& body) noexcept {
  try {
    return body();
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (const py::builtin_exception& e) {
    e.set_error();
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  } catch (const std::exception& e) {  // std::runtime_error: a concurrent step (step_lock)
    PyErr_SetString(PyExc_RuntimeError, e.what());
  } catch (...) {
    PyErr_SetString(PyExc_SystemError, "optkern: unknown C++ exception");
  }
  return nullptr;
}

void expect_arguments(const char* signature, Py_ssize_t given, Py_ssize_t expected) {
  if (given != expected) {
    throw py::type_error(std::string("PreparedStep.") + signature + " takes " +
                         std::to_string(expected) + " positional arguments, got " +
                         std::to_string(given));
  }
}

// owner.<name> = value for every item of `attributes` (a dict), in one C call: Python runs no
// bytecode in between, so a pending KeyboardInterrupt is raised only after all are set. Attributes
// are set one by one (not through owner.__dict__, which would take the instance's attribute
// values out of CPython's inline layout and slow every later attribute access).
void set_attributes(PyObject* owner, PyObject* attributes) {
  if (!PyDict_Check(attributes)) throw py::type_error("set_attributes: attributes must be a dict");
  PyObject* key = nullptr;
  PyObject* value = nullptr;
  Py_ssize_t position = 0;
  while (PyDict_Next(attributes, &position, &key, &value)) {
    if (PyObject_SetAttr(owner, key, value) != 0) throw py::error_already_set();
  }
}

// Checks that `owners` and `commits` are lists of equal length and every commit a dict, so that
// committing them (set_each_attributes) fails half-way only if setting an attribute fails.
void check_commits(const char* where, PyObject* owners, PyObject* commits) {
  if (!PyList_Check(owners) || !PyList_Check(commits) ||
      PyList_GET_SIZE(owners) != PyList_GET_SIZE(commits)) {
    throw py::type_error(std::string(where) + ": owners and commits must be lists of one length");
  }
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(commits); ++i) {
    if (!PyDict_Check(PyList_GET_ITEM(commits, i))) {
      throw py::type_error(std::string(where) + ": every commit must be a dict");
    }
  }
}

// set_attributes(owners[i], commits[i]) for every i (checked by check_commits).
void set_each_attributes(PyObject* owners, PyObject* commits) {
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(owners); ++i) {
    set_attributes(PyList_GET_ITEM(owners, i), PyList_GET_ITEM(commits, i));
  }
}

PyObject* is_current_method(PyObject* self, PyObject* const* args, Py_ssize_t count) {
  return with_python_errors([&]() -> PyObject* {
    expect_arguments("is_current(param_groups, records)", count, 2);
    const bool current = py::cast<const PreparedStep&>(self).is_current(args[0], args[1]);
    return py::bool_(current).release().ptr();
  });
}

// run()'s optional sixth argument, (max_norm or None, grad_scale, skip_if_nonfinite,
// ema_averages or None, ema_weight), checked by Optimizer.step: a float max_norm >= 0, a finite
// grad_scale > 0, a bool, a list of arrays (checked here), a float.
GradOptions grad_options_of(PyObject* options) {
  if (!PyTuple_Check(options) || PyTuple_GET_SIZE(options) != 5) {
    throw py::type_error(
        "PreparedStep.run: grad options are (max_norm, grad_scale, skip, ema_averages, "
        "ema_weight)");
  }
  PyObject* max_norm = PyTuple_GET_ITEM(options, 0);
  GradOptions result{};
  result.clip = max_norm != Py_None;
  result.max_norm = result.clip ? py::handle(max_norm).cast<double>() : 0.0;
  result.grad_scale = py::handle(PyTuple_GET_ITEM(options, 1)).cast<double>();
  result.skip_if_nonfinite = py::handle(PyTuple_GET_ITEM(options, 2)).cast<bool>();
  result.ema_averages = PyTuple_GET_ITEM(options, 3);
  result.ema_weight = py::handle(PyTuple_GET_ITEM(options, 4)).cast<double>();
  return result;
}

PyObject* run_method(PyObject* self, PyObject* const* args, Py_ssize_t count) {
  return with_python_errors([&]() -> PyObject* {
    if (count != 6) {
      expect_arguments("run(step_coefficients, grads, num_threads, owners, commits)", count, 5);
    }
    const long threads = PyLong_AsLong(args[2]);
    if (threads == -1 && PyErr_Occurred()) throw py::error_already_set();
    if (threads < 0 || threads > std::numeric_limits<int>::max()) {
      throw py::value_error("num_threads must be >= 1 (or 0: OpenMP's maximum)");
    }
    check_commits("PreparedStep.run", args[3], args[4]);
    GradOptions options{};
    if (count == 6) options = grad_options_of(args[5]);
    const GradReport report = py::cast<PreparedStep&>(self).run(
        args[0], args[1], static_cast<int>(threads), args[4], count == 6 ? &options : nullptr);
    // The step's bookkeeping (each group record's step count, scalar state, fresh states) is
    // committed here, in the same C call as the update: a Ctrl-C during the kernel is raised only
    // when this call returns, so a caller that catches KeyboardInterrupt finds the update and its
    // bookkeeping both done. Committed from Python after the call, the interrupt would land
    // between the two. A skipped step wrote nothing and commits nothing.
    if (!report.skipped) set_each_attributes(args[3], args[4]);
    if (count == 5) Py_RETURN_NONE;
    const py::object norm = report.measured ? py::object(py::float_(report.norm)) : py::none();
    return py::make_tuple(norm, report.skipped).release().ptr();
  });
}

// optkern.get_total_norm's kernel: (norm, every element finite) of all the arrays together.
py::tuple grad_norm(const py::handle& arrays, int kind, int num_threads) {
  if (kind < 0 || kind >= kNormKinds) throw py::value_error("grad_norm: kind is 0, 1 or 2");
  std::vector<py::object> keep;
  const std::vector<GradArray> grads =
      checked_grad_arrays(arrays, "tensors", "gradient", false, keep);
  GradPass pass;
  GradNorm result{};
  {
    py::gil_scoped_release release;
    result = pass.norm(grads, static_cast<NormKind>(kind), num_threads);
  }
  return py::make_tuple(result.norm, result.finite);
}

// optkern.distributed's norm: the block partials of grad_norm and whether each block is finite,
// in block order, as two NumPy arrays (float64, bool).
py::tuple grad_norm_partials(const py::handle& arrays, int kind, int num_threads) {
  if (kind < 0 || kind >= kNormKinds)
    throw py::value_error("grad_norm_partials: kind is 0, 1 or 2");
  std::vector<py::object> keep;
  const std::vector<GradArray> grads =
      checked_grad_arrays(arrays, "tensors", "gradient", false, keep);
  GradPass pass;
  std::vector<double> partials;
  std::vector<std::uint8_t> finite;
  {
    py::gil_scoped_release release;
    pass.partials(grads, static_cast<NormKind>(kind), num_threads, partials, finite);
  }
  py::array_t<double> out_partials(static_cast<py::ssize_t>(partials.size()));
  py::array_t<bool> out_finite(static_cast<py::ssize_t>(finite.size()));
  std::copy(partials.begin(), partials.end(), out_partials.mutable_data());
  bool* flags = out_finite.mutable_data();
  for (std::size_t b = 0; b < finite.size(); ++b) flags[b] = finite[b] != 0;
  return py::make_tuple(out_partials, out_finite);
}

// optkern.clip_grad_norm_'s kernels: the norm, then (unless the coefficient is 1, or
// `error_if_nonfinite` and the norm is not finite) the in-place multiply by the coefficient.
// Returns (norm, finite); every array is checked before anything is written.
py::tuple clip_grad_norm(const py::handle& arrays, double max_norm, int kind,
                         bool error_if_nonfinite, int num_threads) {
  if (kind < 0 || kind >= kNormKinds) throw py::value_error("clip_grad_norm: kind is 0, 1 or 2");
  std::vector<py::object> keep;
  const std::vector<GradArray> grads = checked_grad_arrays(arrays, "grads", "gradient", true, keep);
  GradPass pass;
  GradNorm result{};
  {
    py::gil_scoped_release release;
    result = pass.norm(grads, static_cast<NormKind>(kind), num_threads);
    const double coefficient = clip_coefficient(max_norm, result.norm);
    // As torch: error_if_nonfinite refuses a non-finite norm (also one that overflowed from
    // finite float64 elements), writing nothing; otherwise a NaN norm makes every gradient NaN.
    const bool refused = error_if_nonfinite && !std::isfinite(result.norm);
    if (!refused && !(coefficient >= 1.0)) {
      pass.scale(grads, coefficient, num_threads);
    }
  }
  return py::make_tuple(result.norm, result.finite);
}

// optkern.accumulate and optkern.EMA.update: targets[i] updated from sources[i] in place.
template <void (GradPass::*kOperation)(const std::vector<GradArray>&, double, int)>
void combine(const py::handle& targets, const py::handle& sources, double operand, int num_threads,
             const std::string& target_name, const char* target_what,
             const std::string& source_name, const char* source_what) {
  std::vector<py::object> keep;
  const std::vector<GradArray> pairs = checked_array_pairs(
      targets, sources, target_name, target_what, source_name, source_what, keep);
  GradPass pass;
  py::gil_scoped_release release;
  (pass.*kOperation)(pairs, operand, num_threads);
}

// optkern.clip_grad_value_'s in-place clamp to [-bound, bound].
void clamp_grads(const py::handle& arrays, double bound, int num_threads) {
  std::vector<py::object> keep;
  const std::vector<GradArray> grads = checked_grad_arrays(arrays, "grads", "gradient", true, keep);
  GradPass pass;
  py::gil_scoped_release release;
  pass.clamp(grads, bound, num_threads);
}

// PyMethodDef wants the generic PyCFunction type; the cast through void(*)() is the documented
// way to store a METH_FASTCALL function there without a cast-function-type warning.
template <PyObject* (*method)(PyObject*, PyObject* const*, Py_ssize_t)>
PyCFunction as_cfunction() {
  return reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(method));
}

PyMethodDef is_current_def = {
    "is_current", as_cfunction<is_current_method>(), METH_FASTCALL,
    "is_current(param_groups, records): True while the groups are unchanged."};
PyMethodDef run_def = {
    "run", as_cfunction<run_method>(), METH_FASTCALL,
    "run(step_coefficients, grads, num_threads, owners, commits[, grad_options]): one checked "
    "step; then owners[i].<key> = value for each item of commits[i]. With grad_options "
    "(max_norm or None, grad_scale, skip_if_nonfinite, ema_averages or None, ema_weight): "
    "returns (norm or None, skipped)."};

void add_fast_method(const py::handle& cls, PyMethodDef* def) {
  PyObject* method = PyDescr_NewMethod(reinterpret_cast<PyTypeObject*>(cls.ptr()), def);
  if (method == nullptr) throw py::error_already_set();
  py::setattr(cls, def->ml_name, py::reinterpret_steal<py::object>(method));
}

std::string compiler() {
#if defined(__clang__)
  return "clang " __clang_version__;
#elif defined(__GNUC__)
  return "gcc " __VERSION__;
#else
  return "unknown";
#endif
}

std::string openmp_runtime() {
#if OPTKERN_HAVE_OPENMP
  return "OpenMP " + std::to_string(_OPENMP);
#else
  return "none (built without OpenMP: single-threaded)";
#endif
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "optkern's compiled kernels; use the classes in optkern instead.";
  select_isa_from_environment();  // raises ValueError (failing the import) for a bad OPTKERN_ISA
  register_fork_handler();

  py::class_<TensorGroup>(m, "TensorGroup")
      .def(py::init<std::vector<std::string>, const py::list&, const py::list&,
                    std::vector<std::string>, std::vector<std::string>, std::vector<std::int64_t>,
                    const py::object&, const py::list&, bool, std::uint64_t>(),
           py::arg("roles"), py::arg("params"), py::arg("states"), py::arg("param_labels"),
           py::arg("grad_labels"), py::arg("grad_index"), py::arg("state_dtype") = py::none(),
           py::arg("masters") = py::list(), py::arg("stochastic") = false, py::arg("seed") = 0)
      .def_property_readonly("params", &TensorGroup::params)
      .def_property_readonly("states", &TensorGroup::states)
      .def_property_readonly("masters", &TensorGroup::masters)
      .def_property_readonly("grad_index", &TensorGroup::grad_index)
      .def_property_readonly("planned_threads", &TensorGroup::planned_threads)
      .def("__len__", &TensorGroup::size);
  const py::object prepared_step =
      py::class_<PreparedStep>(m, "PreparedStep")
          .def_property_readonly("tensor_groups", &PreparedStep::tensor_groups)
          .def_property_readonly("fixed_coefficients", &PreparedStep::fixed_coefficients)
          .def("_set_segment_repeats", &PreparedStep::set_segment_repeats, py::arg("repeats"),
               "Benchmarks only: every later step goes over each thread's part `repeats` times "
               "in one kernel call (the arithmetic floor, on cache-resident data); 1: a normal "
               "step.")
          .def_property_readonly("_segment_repeats", &PreparedStep::segment_repeats);
  // An optimizer's choice between its default threads and one thread (thread_choice.h); the
  // methods are there for the tests, which drive it with made-up durations.
  py::class_<ThreadChoice, std::shared_ptr<ThreadChoice>>(m, "ThreadChoice")
      .def(py::init<>())
      .def("next_is_parallel", &ThreadChoice::next_is_parallel, py::arg("workload") = 0)
      .def("record", &ThreadChoice::record, py::arg("workload"), py::arg("parallel"),
           py::arg("nanoseconds"))
      .def("reset", &ThreadChoice::reset)
      .def("_set_fake_durations", &ThreadChoice::set_fake_durations, py::arg("serial_ns"),
           py::arg("parallel_ns"))
      .def("serial_estimate_ns", &ThreadChoice::serial_estimate_ns, py::arg("workload") = 0)
      .def("in_parallel_mode", &ThreadChoice::in_parallel_mode, py::arg("workload") = 0)
      .def("probes", &ThreadChoice::probes, py::arg("workload") = 0)
      .def("fallbacks", &ThreadChoice::fallbacks, py::arg("workload") = 0);
  add_fast_method(prepared_step, &is_current_def);
  add_fast_method(prepared_step, &run_def);
  m.def("check_disjoint", &check_disjoint, py::arg("groups"));
  m.def(
      "set_attributes",
      [](const py::handle& owner, const py::handle& attributes, const py::list& extend,
         const py::list& items, const py::list& owners, const py::list& commits) {
        // Everything is checked first, so that nothing fails half-way.
        check_commits("set_attributes", owners.ptr(), commits.ptr());
        for (const py::handle pair : extend) {
          const auto entry = pair.cast<py::tuple>();
          if (entry.size() != 2 || !PyList_Check(entry[0].ptr()) || !PyList_Check(entry[1].ptr()))
            throw py::type_error("set_attributes: extend holds (list, list) pairs");
        }
        for (const py::handle triple : items) {
          const auto entry = triple.cast<py::tuple>();
          if (entry.size() != 3 || !PyDict_Check(entry[0].ptr()) ||
              !PyUnicode_CheckExact(entry[1].ptr()))
            throw py::type_error("set_attributes: items holds (dict, str, value) triples");
        }
        set_attributes(owner.ptr(), attributes.ptr());
        set_each_attributes(owners.ptr(), commits.ptr());
        for (const py::handle pair : extend) {
          const auto entry = pair.cast<py::tuple>();
          const Py_ssize_t end = PyList_GET_SIZE(entry[0].ptr());
          if (PyList_SetSlice(entry[0].ptr(), end, end, entry[1].ptr()) != 0)
            throw py::error_already_set();
        }
        for (const py::handle triple : items) {
          const auto entry = triple.cast<py::tuple>();
          if (PyDict_SetItem(entry[0].ptr(), entry[1].ptr(), entry[2].ptr()) != 0)
            throw py::error_already_set();
        }
      },
      py::arg("owner"), py::arg("attributes"), py::arg("extend") = py::list(),
      py::arg("items") = py::list(), py::arg("owners") = py::list(),
      py::arg("commits") = py::list());
  m.def("_same_traffic_step", &same_traffic_step, py::arg("groups"), py::arg("grads"),
        py::arg("num_threads"),
        "Benchmarks only: the same-traffic memory ceiling of a step (adds g to p and states).");
  m.def(
      "check_grads",
      [](const std::vector<TensorGroup*>& groups, const py::handle& grads) {
        std::vector<py::object> checked;
        checked_grads(groups, MemoryIndex(groups), grads, checked);
        return py::cast(checked);
      },
      py::arg("groups"), py::arg("grads"));

  py::dict roles;
#define OPTKERN_BIND_ALGORITHM(name, Params)                                                      \
  m.def(#name "_prepare", &prepare<Params<double>, &KernelTable::name>, py::arg("tensor_groups"), \
        py::arg("param_groups"), py::arg("bindings"), py::arg("fixed_coefficients"),              \
        py::arg("thread_choice") = nullptr);                                                      \
  roles[#name] = py::tuple(py::cast(roles_of<Params<double>>()));
  OPTKERN_FOR_EACH_ALGORITHM(OPTKERN_BIND_ALGORITHM)
#undef OPTKERN_BIND_ALGORITHM
  m.attr("array_roles") = roles;

  m.def("grad_norm", &grad_norm, py::arg("tensors"), py::arg("kind"), py::arg("num_threads"),
        "(norm, finite) of the arrays together; kind 0: 2-norm, 1: 1-norm, 2: inf-norm.");
  m.def("grad_norm_partials", &grad_norm_partials, py::arg("tensors"), py::arg("kind"),
        py::arg("num_threads"),
        "(block partials, block finite) of grad_norm, in block order: float64 and bool arrays.");
  m.def("clip_grad_norm", &clip_grad_norm, py::arg("grads"), py::arg("max_norm"), py::arg("kind"),
        py::arg("error_if_nonfinite"), py::arg("num_threads"),
        "(norm, finite); grads multiplied in place by the clip coefficient where it is < 1.");
  m.def("clamp_grads", &clamp_grads, py::arg("grads"), py::arg("bound"), py::arg("num_threads"));
  m.def(
      "accumulate",
      [](const py::handle& sums, const py::handle& values, double scale, int num_threads) {
        combine<&GradPass::accumulate>(sums, values, scale, num_threads, "buffers", "buffer",
                                       "grads", "gradient");
      },
      py::arg("buffers"), py::arg("grads"), py::arg("scale"), py::arg("num_threads"),
      "buffers[i] += grads[i] * scale, in place.");
  m.def(
      "check_array_pairs",
      [](const py::handle& targets, const py::handle& sources) {
        std::vector<py::object> keep;
        checked_array_pairs(targets, sources, "averages", "average", "params", "parameter", keep);
      },
      py::arg("averages"), py::arg("params"),
      "Raises what ema_update would for these arrays; writes nothing.");
  m.def(
      "ema_update",
      [](const py::handle& averages, const py::handle& params, double weight, int num_threads) {
        combine<&GradPass::ema_update>(averages, params, weight, num_threads, "averages", "average",
                                       "params", "parameter");
      },
      py::arg("averages"), py::arg("params"), py::arg("weight"), py::arg("num_threads"),
      "averages[i] = lerp(averages[i], params[i], weight), in place.");
  m.attr("norm_block") = kNormBlock;
  m.attr("norm_lanes") = kNormLanes;
  m.def("_convert", &convert, py::arg("isa"), py::arg("conversion"), py::arg("source"),
        py::arg("out"),
        "Tests only: one 16-bit conversion of `isa` (load_float16, load_bfloat16: uint16 bits to "
        "float32; store_float16, store_bfloat16: float32 to uint16 bits) from source into out.");
  m.def("compiled_isas", &compiled_isas);
  m.def("supported_isas", &supported_isas);
  m.def("active_isa", [] { return std::string(active_kernels().isa); });
  m.def(
      "_select_isa", &select_isa, py::arg("name"),
      "Switch kernels at run time (for tests and benchmarks; not thread-safe with running steps).");
  m.def("max_threads", &max_threads);
  m.def("_set_default_thread_cap", &set_default_thread_cap, py::arg("cap"),
        "Caps max_threads() (the default thread count) at `cap` threads; 0 for no cap.");
  m.def("_default_thread_cap", &default_thread_cap);
  m.def("thread_limit", &thread_limit);
  m.def("forked_child", &in_forked_child,
        "True in a process forked from one that imported optkern: its steps run on one thread.");
  m.def("openmp_library", &openmp_library);
  m.def("_min_elements_per_thread", &min_elements_per_thread);
  m.def("_set_min_elements_per_thread", &set_min_elements_per_thread, py::arg("elements"),
        "Set the serial grain (for tests and benchmarks).");
  m.attr("openmp_runtime") = openmp_runtime();
  m.attr("has_openmp") = static_cast<bool>(OPTKERN_HAVE_OPENMP);
#ifdef OPTKERN_SANITIZED
  m.attr("sanitized") = true;  // an ASan + UBSan build (.ci/sanitize): slow, unvectorized kernels
#else
  m.attr("sanitized") = false;
#endif
  m.attr("compiler") = compiler();
  m.attr("version") = OPTKERN_VERSION;
}
