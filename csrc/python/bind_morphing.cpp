#include <optional>

#include "arrays.hpp"
#include "madsbi/hd.hpp"
#include "madsbi/morphing.hpp"

namespace py = pybind11;
using madsbi::bindings::carray;
using madsbi::bindings::require_shape;

namespace {

py::ssize_t n_params(const carray<double>& theta0) {
  require_shape(theta0, "theta0", {-1});
  return theta0.shape(0);
}

}  // namespace

void bind_morphing(py::module_& m) {
  m.def("max_parameters", []() { return madsbi::kMaxParameters; });

  m.def(
      "polynomial_features",
      [](const carray<double>& thetas, const carray<double>& theta0, int n_threads) {
        const py::ssize_t n = n_params(theta0);
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
        const py::ssize_t n = n_params(theta0);
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
          madsbi::morphing_weights_batch(
              thetas.data(), static_cast<std::size_t>(G), static_cast<int>(n), theta0.data(),
              w_inverse.data(), sigma_basis ? sigma_basis->data() : nullptr, a.mutable_data(),
              sigma ? sigma->mutable_data() : nullptr, n_threads);
        }
        return py::make_tuple(a, sigma ? py::object(*sigma) : py::none());
      },
      py::arg("thetas"), py::arg("theta0"), py::arg("w_inverse"), py::arg("sigma_basis"),
      py::arg("n_threads") = 0,
      "a(theta) = W^-T phi(theta - theta0) for G points, and sigma(theta) if sigma_basis given.");
}
