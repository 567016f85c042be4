// madsbi._core_cuda: CUDA kernels, built only with MADSBI_CUDA=ON. Imports without a GPU
// (static cudart); calls fail with RuntimeError when no device is usable.
#include <cstdint>
#include <optional>
#include <vector>

#include "arrays.hpp"
#include "madsbi/cuda_api.hpp"

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
        return madsbi::bindings::run_morphing(
            thetas, theta0, w_inverse, sigma_basis,
            [device](const double* t, std::size_t G, int n, const double* t0, const double* winv,
                     const double* sb, double* a, double* sigma) {
              madsbi::cuda::morphing_weights(t, G, n, t0, winv, sb, a, sigma, device);
            });
      },
      py::arg("thetas"), py::arg("theta0"), py::arg("w_inverse"), py::arg("sigma_basis"),
      py::arg("device") = 0);
  m.def(
      "log_ratio_sums",
      [](const carray<double>& coefficients, const carray<double>& features,
         std::optional<carray<double>> weights, bool log1p, double floor,
         std::vector<int> devices) {
        require_shape(coefficients, "coefficients", {-1, -1, -1});
        const py::ssize_t M = coefficients.shape(0), N = coefficients.shape(1),
                          K = coefficients.shape(2);
        require_shape(features, "features", {-1, K});
        const py::ssize_t G = features.shape(0);
        if (weights) require_shape(*weights, "weights", {N});
        carray<double> sums({M, G});
        carray<std::int64_t> n_clamped({M, G});
        {
          py::gil_scoped_release release;
          madsbi::cuda::log_ratio_sums(
              coefficients.data(), static_cast<std::size_t>(M), static_cast<std::size_t>(N),
              static_cast<int>(K), features.data(), static_cast<std::size_t>(G),
              weights ? weights->data() : nullptr, log1p, floor, sums.mutable_data(),
              n_clamped.mutable_data(), devices);
        }
        return py::make_tuple(sums, n_clamped);
      },
      py::arg("coefficients"), py::arg("features"), py::arg("weights"), py::arg("log1p"),
      py::arg("floor"), py::arg("devices") = std::vector<int>{},
      "S[m, g] = sum_e w_e log(c_me . phi_g) and the count of clamped pairs on the GPU(s): "
      "(M, N, K), (G, K), (N,) or None -> (M, G) float64, (M, G) int64. devices: [] = all.");
}
