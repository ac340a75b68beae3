// Direct reads of NumPy's array struct, for the checks that run on every gradient of every step
// (tensor_group.cpp): a field read instead of a Python attribute lookup. pybind11 exposes these
// only through its internal namespace, py::detail, which may change between pybind11 versions
// (pyproject.toml bounds it below the next major): every use of py::detail is in this header.
#pragma once
#include <pybind11/numpy.h>

namespace optkern::numpy_access {

namespace py = pybind11;

inline constexpr int kCContiguous = py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_;
inline constexpr int kAligned = py::detail::npy_api::NPY_ARRAY_ALIGNED_;

// True if `obj`'s type is exactly numpy.ndarray (no subclass): one pointer comparison.
inline bool is_exact_ndarray(PyObject* obj) {
  return Py_TYPE(obj) == py::detail::npy_api::get().PyArray_Type_;
}
// True for numpy.ndarray and its subclasses.
inline bool is_ndarray(PyObject* obj) { return py::detail::npy_api::get().PyArray_Check_(obj); }

// The fields of an ndarray (`array` must be one).
inline int flags(PyObject* array) { return py::detail::array_proxy(array)->flags; }
inline PyObject* descr(PyObject* array) { return py::detail::array_proxy(array)->descr; }
inline void* data(PyObject* array) { return py::detail::array_proxy(array)->data; }

}  // namespace optkern::numpy_access
