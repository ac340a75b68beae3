// The Python module optkern._core: wiring only. Each algorithm in OPTKERN_FOR_EACH_ALGORITHM gets
// one `<name>_step` entry that turns the optimizer class's coefficient dicts into its params
// struct, checks the whole step, releases the GIL and runs the active ISA's kernel over every
// tensor group.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

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

// Params from a dict (the coefficients an optimizer class computed): every field required,
// nothing unknown, bools must be bools.
template <class Params>
Params params_from_dict(const py::dict& kwargs) {
  Params hp;
  std::size_t used = 0;
  Params::for_each_field([&](const char* name, auto member) {
    if (!kwargs.contains(name)) {
      throw py::type_error(std::string(Params::kName) + " params: missing field '" + name + "'");
    }
    const py::handle value = kwargs[name];
    using Field = std::remove_reference_t<decltype(hp.*member)>;
    if constexpr (std::is_same_v<Field, bool>) {
      if (!py::isinstance<py::bool_>(value)) {
        throw py::type_error(std::string(Params::kName) + " params: field '" + name +
                             "' must be a bool");
      }
    }
    hp.*member = value.cast<Field>();
    ++used;
  });
  if (used != kwargs.size()) {
    throw py::type_error(std::string(Params::kName) + " params: unknown fields given");
  }
  return hp;
}

// `coefficients`: one dict of Params fields per tensor group (converted here: cheaper than a
// Python-side Params object per group and step).
template <class Params, StepKernel<Params> (KernelTable::*kernels)[2]>
void step(const std::vector<const TensorGroup*>& groups, const py::list& coefficients,
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
  if (num_threads < 1) throw py::value_error("num_threads must be >= 1");
  for (std::size_t g = 0; g < groups.size(); ++g) {
    for (int role = 2; role < static_cast<int>(Params::kArrays.size()); ++role) {
      if (hparams[g].needs_array(role) && !groups[g]->has_role(role)) {
        throw py::value_error(std::string(Params::kName) + ": the options of group " +
                              std::to_string(g) + " need state '" + Params::kArrays[role] +
                              "', which is not bound");
      }
    }
  }
  const std::vector<py::array> grad_arrays = checked_grads(groups, grads);  // throws before writes

  std::vector<StepPlan> plans;
  plans.reserve(groups.size());
  for (const TensorGroup* group : groups) {
    plans.emplace_back(group->pointer_table(grad_arrays), group->sizes(), group->element_bytes(),
                       num_threads);
  }
  const KernelTable& table = active_kernels();
  py::gil_scoped_release release;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    (table.*kernels)[groups[g]->dtype()](plans[g].call(), hparams[g]);
  }
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
      .def("__len__", &TensorGroup::size);
  m.def("check_disjoint", &check_disjoint, py::arg("groups"));
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
  m.def("_min_elements_per_thread", &min_elements_per_thread);
  m.def("_set_min_elements_per_thread", &set_min_elements_per_thread, py::arg("elements"),
        "Set the serial grain (for tests and benchmarks).");
  m.attr("openmp_runtime") = openmp_runtime();
  m.attr("has_openmp") = static_cast<bool>(OPTKERN_HAVE_OPENMP);
  m.attr("compiler") = compiler();
  m.attr("version") = OPTKERN_VERSION;
}
