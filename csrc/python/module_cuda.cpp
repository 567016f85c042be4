// madsbi._core_cuda: CUDA kernels, built only with MADSBI_CUDA=ON. Imports without a GPU
// (static cudart); calls fail with RuntimeError when no device is usable.
#include <optional>

#include "arrays.hpp"
#include "madsbi/cuda_api.hpp"
#include "madsbi/hd.hpp"

namespace py = pybind11;
using madsbi::bindings::carray;
using madsbi::bindings::require_shape;

PYBIND11_MODULE(_core_cuda, m) {
  m.doc() = "madsbi CUDA kernels (private; use the madsbi Python API)";
  m.def("device_count", &madsbi::cuda::device_count);
  m.def("device_name", &madsbi::cuda::device_name, py::arg("device") = 0);
  m.def(
      "morphing_weights",
      [](const carray<double>& thetas, const carray<double>& theta0,
         const carray<double>& w_inverse, std::optional<carray<double>> sigma_basis,
         int device) {
        require_shape(theta0, "theta0", {-1});
        const py::ssize_t n = theta0.shape(0);
        require_shape(thetas, "thetas", {-1, n});
        const py::ssize_t K = madsbi::n_coefficients(static_cast<int>(n));
        require_shape(w_inverse, "w_inverse", {K, K});
        if (sigma_basis) require_shape(*sigma_basis, "sigma_basis", {K});
        const py::ssize_t G = thetas.shape(0);
        carray<double> a({G, K});
        std::optional<carray<double>> sigma;
        if (sigma_basis) sigma.emplace(std::vector<py::ssize_t>{G});
        {
          py::gil_scoped_release release;
          madsbi::cuda::morphing_weights(
              thetas.data(), static_cast<std::size_t>(G), static_cast<int>(n), theta0.data(),
              w_inverse.data(), sigma_basis ? sigma_basis->data() : nullptr, a.mutable_data(),
              sigma ? sigma->mutable_data() : nullptr, device);
        }
        return py::make_tuple(a, sigma ? py::object(*sigma) : py::none());
      },
      py::arg("thetas"), py::arg("theta0"), py::arg("w_inverse"), py::arg("sigma_basis"),
      py::arg("device") = 0);
}
