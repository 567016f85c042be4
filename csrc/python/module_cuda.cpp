// madsbi._core_cuda: CUDA kernels, built only with MADSBI_CUDA=ON. Imports without a GPU
// (static cudart); calls fail with RuntimeError when no device is usable.
#include <optional>

#include "arrays.hpp"
#include "madsbi/cuda_api.hpp"

namespace py = pybind11;
using madsbi::bindings::carray;

PYBIND11_MODULE(_core_cuda, m) {
  m.doc() = "madsbi CUDA kernels (private; use the madsbi Python API)";
  m.def("device_count", &madsbi::cuda::device_count);
  m.def("device_name", &madsbi::cuda::device_name, py::arg("device") = 0);
  m.def(
      "morphing_weights",
      [](const carray<double>& thetas, const carray<double>& theta0,
         const carray<double>& w_inverse, std::optional<carray<double>> sigma_basis,
         int device) {
        return madsbi::bindings::run_morphing(
            thetas, theta0, w_inverse, sigma_basis,
            [device](const double* t, std::size_t G, int n, const double* t0, const double* winv,
                     const double* sb, double* a, double* sigma) {
              madsbi::cuda::morphing_weights(t, G, n, t0, winv, sb, a, sigma, device);
            });
      },
      py::arg("thetas"), py::arg("theta0"), py::arg("w_inverse"), py::arg("sigma_basis"),
      py::arg("device") = 0);
}
