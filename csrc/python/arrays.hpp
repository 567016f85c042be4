// Array helpers for the bindings: shape checks that name the argument, and zero-copy hand-over
// of std::vector results to NumPy. The Python layer already validates dtypes.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace madsbi::bindings {

namespace py = pybind11;

template <typename T>
using carray = py::array_t<T, py::array::c_style>;

inline std::string shape_string(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    if (i) s += ", ";
    s += std::to_string(a.shape(i));
  }
  return s + (a.ndim() == 1 ? ",)" : ")");
}

// Throws std::invalid_argument (→ ValueError) unless `a` has `ndim` dimensions and, for each
// entry of `shape` that is >= 0, that extent.
inline void require_shape(const py::array& a, const char* name, std::vector<py::ssize_t> shape) {
  bool ok = a.ndim() == static_cast<py::ssize_t>(shape.size());
  for (std::size_t i = 0; ok && i < shape.size(); ++i) {
    if (shape[i] >= 0 && a.shape(static_cast<py::ssize_t>(i)) != shape[i]) ok = false;
  }
  if (!ok) {
    std::string want = "(";
    for (std::size_t i = 0; i < shape.size(); ++i) {
      if (i) want += ", ";
      want += shape[i] >= 0 ? std::to_string(shape[i]) : std::string("*");
    }
    want += shape.size() == 1 ? ",)" : ")";
    throw std::invalid_argument(std::string(name) + ": expected shape " + want + ", got " +
                                shape_string(a));
  }
}

template <typename T>
py::array_t<T> to_numpy(std::vector<T>&& v, std::vector<py::ssize_t> shape) {
  auto* heap = new std::vector<T>(std::move(v));
  py::capsule owner(heap, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>(shape, heap->data(), owner);
}

}  // namespace madsbi::bindings
