// The Python module optkern._core: wiring only. Each algorithm in OPTKERN_FOR_EACH_ALGORITHM gets
// one `<name>_step` entry that turns the optimizer class's coefficient dicts into its params
// struct, checks the whole step, releases the GIL and runs the active ISA's kernel over every
// tensor group.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <string>
#include <type_traits>
#include <vector>

#include "dispatch.h"
#include "optkern/algorithms.h"
#include "tensor_group.h"
#include "work_plan_builder.h"

namespace py = pybind11;
using namespace optkern;

namespace {

template <class Params>
std::vector<std::string> roles_of() {
  return {Params::kArrays.begin(), Params::kArrays.end()};
}

// The field names of Params as interned Python strings, made once: a dict lookup with them costs
// no string construction. Deliberately never released (static py::objects would be destroyed
// after the interpreter).
template <class Params>
const std::vector<PyObject*>& field_keys() {
  static const std::vector<PyObject*> keys = [] {
    std::vector<PyObject*> made;
    Params::for_each_field(
        [&](const char* name, auto) { made.push_back(PyUnicode_InternFromString(name)); });
    return made;
  }();
  return keys;
}

// Params from a dict (the coefficients an optimizer class computed): every field required,
// nothing unknown, bools must be bools.
template <class Params>
Params params_from_dict(const py::dict& kwargs) {
  Params hp;
  std::size_t used = 0;
  const std::vector<PyObject*>& keys = field_keys<Params>();
  Params::for_each_field([&](const char* name, auto member) {
    PyObject* value = PyDict_GetItemWithError(kwargs.ptr(), keys[used]);  // borrowed
    if (value == nullptr) {
      if (PyErr_Occurred()) throw py::error_already_set();
      throw py::type_error(std::string(Params::kName) + " params: missing field '" + name + "'");
    }
    using Field = std::remove_reference_t<decltype(hp.*member)>;
    if constexpr (std::is_same_v<Field, bool>) {
      if (!PyBool_Check(value)) {
        throw py::type_error(std::string(Params::kName) + " params: field '" + name +
                             "' must be a bool");
      }
      hp.*member = value == Py_True;
    } else {
      hp.*member = py::handle(value).cast<Field>();
    }
    ++used;
  });
  if (used != kwargs.size()) {
    throw py::type_error(std::string(Params::kName) + " params: unknown fields given");
  }
  return hp;
}

// What the kernels of one step run on, checked: every group locked against a concurrent step, a
// reference to every gradient (the GIL is released while the kernels run), one call per group.
struct CheckedStep {
  std::vector<std::unique_lock<std::mutex>> locks;
  std::vector<py::object> grads;
  std::vector<StepCall> calls;
};

CheckedStep checked_step(const std::vector<TensorGroup*>& groups, const py::handle& grads,
                         int num_threads) {
  if (num_threads < 1) throw py::value_error("num_threads must be >= 1");
  CheckedStep step;
  step.locks.reserve(groups.size());
  for (TensorGroup* group : groups) step.locks.push_back(group->step_lock());
  step.grads = checked_grads({groups.begin(), groups.end()}, grads);  // throws before writes
  step.calls.reserve(groups.size());
  for (TensorGroup* group : groups)
    step.calls.push_back(group->plan(num_threads, step.grads).call());
  return step;
}

// `coefficients`: one dict of Params fields per tensor group (converted here: cheaper than a
// Python-side Params object per group and step).
template <class Params, StepKernel<Params> (KernelTable::*kernels)[2]>
void step(const std::vector<TensorGroup*>& groups, const py::list& coefficients,
          const py::handle& grads, int num_threads) {
  if (groups.size() != coefficients.size()) {
    throw py::value_error("one coefficient dict is needed per tensor group");
  }
  std::vector<Params> hparams;
  hparams.reserve(groups.size());
  for (const py::handle item : coefficients) {
    if (!py::isinstance<py::dict>(item)) throw py::type_error("coefficients must be dicts");
    hparams.push_back(params_from_dict<Params>(py::reinterpret_borrow<py::dict>(item)));
  }
  for (std::size_t g = 0; g < groups.size(); ++g) {
    for (int role = 2; role < static_cast<int>(Params::kArrays.size()); ++role) {
      if (hparams[g].needs_array(role) && !groups[g]->has_role(role)) {
        throw py::value_error(std::string(Params::kName) + ": the options of group " +
                              std::to_string(g) + " need state '" + Params::kArrays[role] +
                              "', which is not bound");
      }
    }
  }
  const CheckedStep checked = checked_step(groups, grads, num_threads);
  const KernelTable& table = active_kernels();
  py::gil_scoped_release release;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    (table.*kernels)[groups[g]->dtype()](checked.calls[g], hparams[g]);
  }
}

// Benchmarks only: the memory ceiling of a step over these groups. Moves exactly the bytes the
// algorithm moves (parameter, gradient and every bound state), on the same plan and threads, with
// no math (optkern/ceiling.h). It adds the gradient to the parameter and its states, so run it on
// arrays kept for it, never on a model's.
void same_traffic_step(const std::vector<TensorGroup*>& groups, const py::handle& grads,
                       int num_threads) {
  const CheckedStep checked = checked_step(groups, grads, num_threads);
  const KernelTable& table = active_kernels();
  std::vector<CeilingKernel> loops;
  for (const TensorGroup* group : groups) {
    int states = 0;
    for (int role = 2; role < kMaxArrays; ++role) {
      states += role < static_cast<int>(group->role_count()) && group->has_role(role) ? 1 : 0;
    }
    loops.push_back(table.same_traffic[states][group->dtype()]);
  }
  py::gil_scoped_release release;
  for (std::size_t g = 0; g < groups.size(); ++g) loops[g](checked.calls[g]);
}

// True if two lists or tuples hold the very same objects in the same order. Identity, not ==
// (NumPy's == compares elements); in C++ because it runs every step over every parameter.
bool same_items(const py::handle& a, const py::handle& b) {
  const auto items = [](const py::handle& seq) {
    if (!PyList_Check(seq.ptr()) && !PyTuple_Check(seq.ptr())) {
      throw py::type_error("same_items: expected lists or tuples");
    }
    return std::make_pair(PySequence_Fast_ITEMS(seq.ptr()), PySequence_Fast_GET_SIZE(seq.ptr()));
  };
  const auto [first, count] = items(a);
  const auto [second, other_count] = items(b);
  return count == other_count && std::equal(first, first + count, second);
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

  py::class_<TensorGroup>(m, "TensorGroup")
      .def(
          py::init<std::vector<std::string>, const py::list&, const py::list&,
                   std::vector<std::string>, std::vector<std::string>, std::vector<std::int64_t>>(),
          py::arg("roles"), py::arg("params"), py::arg("states"), py::arg("param_labels"),
          py::arg("grad_labels"), py::arg("grad_index"))
      .def_property_readonly("params", &TensorGroup::params)
      .def_property_readonly("states", &TensorGroup::states)
      .def_property_readonly("grad_index", &TensorGroup::grad_index)
      .def_property_readonly("planned_threads", &TensorGroup::planned_threads)
      .def("__len__", &TensorGroup::size);
  m.def("check_disjoint", &check_disjoint, py::arg("groups"));
  m.def("same_items", &same_items, py::arg("a"), py::arg("b"));
  m.def("_same_traffic_step", &same_traffic_step, py::arg("groups"), py::arg("grads"),
        py::arg("num_threads"),
        "Benchmarks only: the same-traffic memory ceiling of a step (adds g to p and states).");
  m.def(
      "check_grads",
      [](const std::vector<const TensorGroup*>& groups, const py::handle& grads) {
        return py::cast(checked_grads(groups, grads));
      },
      py::arg("groups"), py::arg("grads"));

  py::dict roles;
#define OPTKERN_BIND_ALGORITHM(name, Params)                                 \
  m.def(#name "_step", &step<Params, &KernelTable::name>, py::arg("groups"), \
        py::arg("coefficients"), py::arg("grads"), py::arg("num_threads"));  \
  roles[#name] = py::tuple(py::cast(roles_of<Params>()));
  OPTKERN_FOR_EACH_ALGORITHM(OPTKERN_BIND_ALGORITHM)
#undef OPTKERN_BIND_ALGORITHM
  m.attr("array_roles") = roles;

  m.def("compiled_isas", &compiled_isas);
  m.def("supported_isas", &supported_isas);
  m.def("active_isa", [] { return std::string(active_kernels().isa); });
  m.def(
      "_select_isa", &select_isa, py::arg("name"),
      "Switch kernels at run time (for tests and benchmarks; not thread-safe with running steps).");
  m.def("max_threads", &max_threads);
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
