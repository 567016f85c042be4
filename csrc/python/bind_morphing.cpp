#include <optional>

#include "arrays.hpp"
#include "madsbi/hd.hpp"
#include "madsbi/morphing.hpp"

namespace py = pybind11;
using madsbi::bindings::carray;
using madsbi::bindings::require_shape;

void bind_morphing(py::module_& m) {
  m.def("max_parameters", []() { return madsbi::kMaxParameters; });

  m.def(
      "polynomial_features",
      [](const carray<double>& thetas, const carray<double>& theta0, int n_threads) {
        require_shape(theta0, "theta0", {-1});
        const py::ssize_t n = theta0.shape(0);
        require_shape(thetas, "thetas", {-1, n});
        const py::ssize_t G = thetas.shape(0);
        const int K = madsbi::n_coefficients(static_cast<int>(n));
        carray<double> out({G, static_cast<py::ssize_t>(K)});
        {
          py::gil_scoped_release release;
          madsbi::polynomial_features_batch(thetas.data(), static_cast<std::size_t>(G),
                                            static_cast<int>(n), theta0.data(),
                                            out.mutable_data(), n_threads);
        }
        return out;
      },
      py::arg("thetas"), py::arg("theta0"), py::arg("n_threads") = 0,
      "phi(theta - theta0) for G points: (G, n) -> (G, K).");

  m.def(
      "morphing_weights",
      [](const carray<double>& thetas, const carray<double>& theta0,
         const carray<double>& w_inverse, std::optional<carray<double>> sigma_basis,
         int n_threads) {
        return madsbi::bindings::run_morphing(
            thetas, theta0, w_inverse, sigma_basis,
            [n_threads](const double* t, std::size_t G, int n, const double* t0,
                        const double* winv, const double* sb, double* a, double* sigma) {
              madsbi::morphing_weights_batch(t, G, n, t0, winv, sb, a, sigma, n_threads);
            });
      },
      py::arg("thetas"), py::arg("theta0"), py::arg("w_inverse"), py::arg("sigma_basis"),
      py::arg("n_threads") = 0,
      "a(theta) = W^-T phi(theta - theta0) for G points, and sigma(theta) if sigma_basis given.");
}
