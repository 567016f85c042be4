// Array helpers for the bindings: shape checks that name the argument, and zero-copy hand-over
// of std::vector results to NumPy. The Python layer already validates dtypes.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
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

// A batched morphing call shared by the CPU and CUDA bindings: checks thetas (G, n),
// theta0 (n,), w_inverse (K, K) and optional sigma_basis (K,) with errors that name the
// argument, then runs kernel(thetas, G, n, theta0, w_inverse, sigma_basis, a, sigma) without
// the GIL. Returns (a (G, K), sigma (G,) or None).
template <typename Kernel>
py::tuple run_morphing(const carray<double>& thetas, const carray<double>& theta0,
                       const carray<double>& w_inverse,
                       const std::optional<carray<double>>& sigma_basis, Kernel&& kernel) {
  require_shape(theta0, "theta0", {-1});
  const py::ssize_t n = theta0.shape(0);
  require_shape(thetas, "thetas", {-1, n});
  const py::ssize_t K = 1 + n + n * (n + 1) / 2;
  require_shape(w_inverse, "w_inverse", {K, K});
  if (sigma_basis) require_shape(*sigma_basis, "sigma_basis", {K});
  const py::ssize_t G = thetas.shape(0);
  carray<double> a({G, K});
  std::optional<carray<double>> sigma;
  if (sigma_basis) sigma.emplace(std::vector<py::ssize_t>{G});
  {
    py::gil_scoped_release release;
    kernel(thetas.data(), static_cast<std::size_t>(G), static_cast<int>(n), theta0.data(),
           w_inverse.data(), sigma_basis ? sigma_basis->data() : nullptr, a.mutable_data(),
           sigma ? sigma->mutable_data() : nullptr);
  }
  return py::make_tuple(a, sigma ? py::object(*sigma) : py::none());
}

template <typename T>
py::array_t<T> to_numpy(std::vector<T>&& v, std::vector<py::ssize_t> shape) {
  auto* heap = new std::vector<T>(std::move(v));
  py::capsule owner(heap, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>(shape, heap->data(), owner);
}

}  // namespace madsbi::bindings
