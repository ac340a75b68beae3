// Params fields from the coefficient dicts the optimizer classes compute (cpp/optkern/params.h
// names the fields; `Params` here is always the float64 instantiation, <Name>Params<double>). A
// step's Params is assembled from two dicts: the fixed coefficients, converted once when the
// optimizer prepares its groups, and the few that change every step.
#pragma once
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

namespace optkern {

namespace py = pybind11;

// The field names of Params as interned Python strings, made once. Python interns the names it
// reads from source (dict keys written as literals), so the lookup is a pointer comparison.
// Deliberately never released (static py::objects would be destroyed after the interpreter).
template <class Params>
const std::vector<PyObject*>& field_keys() {
  static const std::vector<PyObject*> keys = [] {
    std::vector<PyObject*> made;
    Params::for_each_field(
        [&](const char* name) { made.push_back(PyUnicode_InternFromString(name)); });
    return made;
  }();
  return keys;
}

template <class Params>
constexpr std::uint32_t all_fields_mask() {
  std::uint32_t count = 0;
  Params::for_each_field([&](const char*) { ++count; });
  return count == 32 ? ~0u : (1u << count) - 1;
}

// Position of `key` among Params' fields, or -1.
template <class Params>
int field_index(PyObject* key) {
  const std::vector<PyObject*>& keys = field_keys<Params>();
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (keys[i] == key) return static_cast<int>(i);
  }
  if (!PyUnicode_Check(key)) return -1;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (PyUnicode_Compare(keys[i], key) == 0) return static_cast<int>(i);
  }
  return -1;
}

// Sets the fields of `hp` that `values` (a dict) names and returns them as a bit set (bit i: the
// i-th field of for_each_field). An unknown name, or a flag that is not a bool, is a TypeError.
template <class Params>
std::uint32_t set_fields(Params& hp, const py::handle& values) {
  if (!PyDict_Check(values.ptr())) throw py::type_error("coefficients must be dicts");
  std::uint32_t set = 0;
  PyObject* key = nullptr;
  PyObject* value = nullptr;
  Py_ssize_t position = 0;
  while (PyDict_Next(values.ptr(), &position, &key, &value)) {  // borrowed references
    const int index = field_index<Params>(key);
    if (index < 0) {
      throw py::type_error(std::string(Params::kName) + " params: unknown field " +
                           py::repr(key).cast<std::string>());
    }
    int field = 0;
    Params::for_each_field(
        [&](const char* name, auto& field_value) {
          if (field++ != index) return;
          using Field = std::remove_reference_t<decltype(field_value)>;
          if constexpr (std::is_same_v<Field, bool>) {
            if (!PyBool_Check(value)) {
              throw py::type_error(std::string(Params::kName) + " params: field '" + name +
                                   "' must be a bool");
            }
            field_value = value == Py_True;
          } else if (PyFloat_CheckExact(value)) {
            field_value = PyFloat_AS_DOUBLE(value);
          } else {
            field_value = py::handle(value).cast<Field>();
          }
        },
        hp);
    set |= 1u << index;
  }
  return set;
}

// Name of the lowest field in `fields` (a bit set as set_fields returns).
template <class Params>
std::string first_field_name(std::uint32_t fields) {
  std::string found;
  int field = 0;
  Params::for_each_field([&](const char* name) {
    if (found.empty() && (fields >> field & 1u) != 0) found = name;
    ++field;
  });
  return found;
}

}  // namespace optkern
